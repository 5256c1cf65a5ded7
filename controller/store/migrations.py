"""Named, ordered schema migrations, recorded in ``schema_migrations``.

Never edit a migration that has shipped: add a new one. Units are in column names.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,              -- run | bench | nightly
            plan_name VARCHAR,
            plan_json VARCHAR,
            plan_digest VARCHAR,
            status VARCHAR NOT NULL,            -- running | finished | failed | interrupted
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            controller_version VARCHAR,
            note VARCHAR
        );
        CREATE TABLE devices (
            run_id VARCHAR NOT NULL,
            device VARCHAR NOT NULL,
            device_class VARCHAR,
            tags_json VARCHAR,
            transport VARCHAR,
            description_json VARCHAR,           -- the agent's Describe, as seen for this run
            fingerprint_json VARCHAR,
            simulated BOOLEAN,
            cost_json VARCHAR,
            PRIMARY KEY (run_id, device)
        );
        CREATE TABLE artifacts (
            sha256 VARCHAR PRIMARY KEY,
            format VARCHAR NOT NULL,            -- onnx | tflite | npz
            size_bytes BIGINT NOT NULL,
            model VARCHAR,
            variant VARCHAR,
            source_sha256 VARCHAR,
            transform VARCHAR,
            params_json VARCHAR,
            tool_versions_json VARCHAR,
            compile_ms DOUBLE,
            path VARCHAR,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE jobs (
            job_id VARCHAR PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            job_key VARCHAR NOT NULL,           -- device/model/variant/runtime/scenario
            device VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            artifact_sha256 VARCHAR NOT NULL,
            runtime_name VARCHAR NOT NULL,      -- the plan's runtime entry name
            runtime VARCHAR NOT NULL,
            scenario VARCHAR NOT NULL,
            spec_json VARCHAR NOT NULL,
            status VARCHAR NOT NULL,            -- pending | running | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            error_kind VARCHAR,
            error_message VARCHAR,
            started_at TIMESTAMP,
            finished_at TIMESTAMP
        );
        CREATE TABLE results (
            job_id VARCHAR PRIMARY KEY,
            run_id VARCHAR NOT NULL,
            device VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            runtime VARCHAR NOT NULL,
            runtime_name VARCHAR NOT NULL,
            runtime_version VARCHAR,
            providers_used VARCHAR,
            scenario VARCHAR NOT NULL,
            batch_size INTEGER,
            iterations INTEGER NOT NULL,
            p50_ns DOUBLE, p90_ns DOUBLE, p99_ns DOUBLE, mean_ns DOUBLE,
            min_ns DOUBLE, max_ns DOUBLE, std_ns DOUBLE,
            p50_ci_low_ns DOUBLE, p50_ci_high_ns DOUBLE,
            throughput_ips DOUBLE,
            load_ns BIGINT, compile_ns BIGINT, compile_cache_hit BOOLEAN,
            first_inference_ns BIGINT,
            peak_rss_bytes BIGINT, rss_before_load_bytes BIGINT,
            measure_start_ns BIGINT, measure_end_ns BIGINT,
            stop_reason VARCHAR,
            warnings_json VARCHAR,
            inputs_json VARCHAR,
            avg_power_mw DOUBLE,
            idle_power_mw DOUBLE,
            energy_per_inference_mj DOUBLE,
            dynamic_energy_per_inference_mj DOUBLE,
            energy_source VARCHAR,
            energy_coverage DOUBLE,
            peak_temp_mc DOUBLE,
            throttled BOOLEAN,
            throttle_reasons_json VARCHAR,
            telemetry_json VARCHAR,
            soak_windows_json VARCHAR,
            simulated BOOLEAN,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE latency_samples (
            job_id VARCHAR NOT NULL,
            iteration INTEGER NOT NULL,
            latency_ns BIGINT NOT NULL
        );
        CREATE TABLE telemetry_samples (
            job_id VARCHAR NOT NULL,
            t_ns BIGINT NOT NULL,               -- CLOCK_MONOTONIC of the device
            sensor VARCHAR NOT NULL,
            metric VARCHAR NOT NULL,
            value DOUBLE NOT NULL
        );
        CREATE TABLE telemetry_gaps (
            job_id VARCHAR NOT NULL,
            t_ns BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            reason VARCHAR NOT NULL
        );
        CREATE TABLE accuracy (
            job_id VARCHAR NOT NULL,
            output VARCHAR NOT NULL,            -- an output name, or '*' for all outputs
            max_abs_err DOUBLE,
            mean_abs_err DOUBLE,
            cosine_similarity DOUBLE,
            top1_agreement DOUBLE,
            top5_agreement DOUBLE,
            n_samples INTEGER,
            within_tolerance BOOLEAN,
            reasons VARCHAR
        );
        """,
    ),
    (
        "0002_nightly_checks",
        """
        -- What each `rigbench nightly` concluded, one row per device x series x metric, so
        -- trend reports can mark flagged nights and CI history can be queried later.
        CREATE TABLE nightly_checks (
            run_id VARCHAR NOT NULL,            -- the nightly run
            device VARCHAR NOT NULL,
            series VARCHAR NOT NULL,            -- job_key, or '<device>/device' for the device
            metric VARCHAR NOT NULL,            -- latency_p50 | max_abs_err | energy_per_inference
                                                -- | peak_rss | job | device
            outcome VARCHAR NOT NULL,           -- regression | improvement | no change |
                                                -- not enough data | new baseline | failed | error;
                                                -- for metric 'device': healthy | unhealthy |
                                                -- unreachable | quarantined | missing | retired
            tonight DOUBLE,
            baseline DOUBLE,
            ratio DOUBLE,
            ratio_ci_low DOUBLE,
            ratio_ci_high DOUBLE,
            p_value DOUBLE,
            threshold DOUBLE,
            baseline_run_ids_json VARCHAR,
            changes_json VARCHAR,
            message VARCHAR,
            created_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        "0003_accuracy_per_output_and_unknown",
        """
        -- Figures that one large output cannot dominate, what each output holds, unknown
        -- accuracy stored as unknown (with why), and accuracy against a dataset's labels.
        ALTER TABLE accuracy ADD COLUMN max_rel_err DOUBLE;      -- max abs err / reference range
        ALTER TABLE accuracy ADD COLUMN snr_db DOUBLE;           -- 10 log10(sum ref^2 / sum err^2)
        ALTER TABLE accuracy ADD COLUMN kind VARCHAR;            -- class_scores | other
        ALTER TABLE accuracy ADD COLUMN kind_source VARCHAR;     -- plan | task | guess
        ALTER TABLE accuracy ADD COLUMN unknown_reason VARCHAR;  -- '*' row: why no figure
        ALTER TABLE accuracy ADD COLUMN tolerance_json VARCHAR;  -- '*' row: bounds checked
        ALTER TABLE accuracy ADD COLUMN kernel_family VARCHAR;   -- kernels of the reference
        ALTER TABLE accuracy ADD COLUMN task_top1 DOUBLE;        -- vs the dataset's labels
        ALTER TABLE accuracy ADD COLUMN task_top5 DOUBLE;
        ALTER TABLE accuracy ADD COLUMN task_metric DOUBLE;      -- the plan's metric function
        ALTER TABLE accuracy ADD COLUMN task_metric_name VARCHAR;
        ALTER TABLE accuracy ADD COLUMN ref_task_top1 DOUBLE;    -- the source's, same labels
        ALTER TABLE accuracy ADD COLUMN ref_task_top5 DOUBLE;
        ALTER TABLE accuracy ADD COLUMN ref_task_metric DOUBLE;
        ALTER TABLE accuracy ADD COLUMN n_labelled INTEGER;
        """,
    ),
]
