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
    (
        "0004_views_in_human_units",
        """
        -- The tables keep exact units in their column names (ns, mW, milli-degC, bytes) and
        -- JSON as text; these views give the same rows in ms, W, MB (2^20 bytes, as
        -- `rigbench results` prints), degC and parsed JSON, for `rigbench sql` and notebooks.
        -- docs/schema.md describes every column.
        CREATE VIEW results_h AS
        SELECT r.run_id, r.job_id, ru.kind AS run_kind, ru.plan_name,
               ru.started_at AS run_started_at, r.device, r.model, r.variant, r.runtime,
               r.runtime_name, r.runtime_version,
               r.providers_used, r.scenario, r.batch_size, r.iterations,
               r.p50_ns / 1e6 AS p50_ms, r.p90_ns / 1e6 AS p90_ms, r.p99_ns / 1e6 AS p99_ms,
               r.mean_ns / 1e6 AS mean_ms, r.min_ns / 1e6 AS min_ms, r.max_ns / 1e6 AS max_ms,
               r.std_ns / 1e6 AS std_ms,
               r.p50_ci_low_ns / 1e6 AS p50_ci_low_ms, r.p50_ci_high_ns / 1e6 AS p50_ci_high_ms,
               r.throughput_ips,
               r.load_ns / 1e6 AS load_ms, r.compile_ns / 1e6 AS compile_ms, r.compile_cache_hit,
               r.first_inference_ns / 1e6 AS first_inference_ms,
               r.peak_rss_bytes / 1048576.0 AS peak_rss_mb,
               r.rss_before_load_bytes / 1048576.0 AS rss_before_load_mb,
               (r.measure_end_ns - r.measure_start_ns) / 1e9 AS measured_s, r.stop_reason,
               r.avg_power_mw / 1e3 AS avg_power_w, r.idle_power_mw / 1e3 AS idle_power_w,
               r.energy_per_inference_mj, r.dynamic_energy_per_inference_mj,
               r.energy_source, r.energy_coverage,
               r.peak_temp_mc / 1e3 AS peak_temp_c, r.throttled,
               r.throttle_reasons_json::JSON AS throttle_reasons,
               a.max_abs_err, a.mean_abs_err, a.max_rel_err, a.snr_db, a.cosine_similarity,
               a.top1_agreement, a.top5_agreement, a.within_tolerance,
               a.unknown_reason AS accuracy_unknown_reason, a.task_top1, a.task_top5,
               a.task_metric, a.task_metric_name,
               r.warnings_json::JSON AS warnings, r.inputs_json::JSON AS inputs,
               r.telemetry_json::JSON AS telemetry, r.soak_windows_json::JSON AS soak_windows,
               r.simulated, r.created_at
        FROM results r
        JOIN runs ru ON ru.run_id = r.run_id
        LEFT JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*';

        CREATE VIEW latency_samples_h AS
        SELECT s.job_id, r.run_id, r.device, r.model, r.variant, r.runtime_name, r.scenario,
               s.iteration, s.latency_ns / 1e6 AS latency_ms
        FROM latency_samples s JOIN results r ON r.job_id = s.job_id;

        CREATE VIEW telemetry_h AS
        SELECT t.job_id, j.run_id, j.device, j.model, j.variant, j.runtime_name,
               (t.t_ns - r.measure_start_ns) / 1e9 AS t_s,  -- from the measured window's start
               t.sensor,
               CASE t.metric
                   WHEN 'temp_mc' THEN 'temp' WHEN 'power_mw' THEN 'power'
                   WHEN 'energy_uj' THEN 'energy' WHEN 'max_energy_range_uj' THEN 'max_energy_range'
                   WHEN 'clock_khz' THEN 'clock' WHEN 'util_pct' THEN 'util'
                   WHEN 'mem_used_kb' THEN 'mem_used' WHEN 'voltage_mv' THEN 'voltage'
                   WHEN 'current_ma' THEN 'current' ELSE t.metric END AS quantity,
               CASE t.metric
                   WHEN 'temp_mc' THEN t.value / 1e3 WHEN 'power_mw' THEN t.value / 1e3
                   WHEN 'energy_uj' THEN t.value / 1e6 WHEN 'max_energy_range_uj' THEN t.value / 1e6
                   WHEN 'clock_khz' THEN t.value / 1e3 WHEN 'mem_used_kb' THEN t.value / 1024.0
                   WHEN 'voltage_mv' THEN t.value / 1e3 WHEN 'current_ma' THEN t.value / 1e3
                   ELSE t.value END AS value,
               CASE t.metric
                   WHEN 'temp_mc' THEN '°C' WHEN 'power_mw' THEN 'W' WHEN 'energy_uj' THEN 'J'
                   WHEN 'max_energy_range_uj' THEN 'J' WHEN 'clock_khz' THEN 'MHz'
                   WHEN 'util_pct' THEN '%' WHEN 'mem_used_kb' THEN 'MB'
                   WHEN 'voltage_mv' THEN 'V' WHEN 'current_ma' THEN 'A'
                   WHEN 'throttled' THEN 'flag' WHEN 'throttle_count' THEN 'count'
                   ELSE '' END AS unit,
               t.metric, t.value AS raw_value, t.t_ns
        FROM telemetry_samples t
        JOIN jobs j ON j.job_id = t.job_id
        LEFT JOIN results r ON r.job_id = t.job_id;

        CREATE VIEW devices_h AS
        SELECT d.run_id, d.device, d.device_class, d.tags_json::JSON AS tags, d.transport,
               d.description_json ->> '$.hostname' AS hostname,
               d.description_json ->> '$.cpu_model' AS cpu_model,
               d.description_json ->> '$.arch' AS arch,
               d.description_json ->> '$.os' AS os,
               d.description_json ->> '$.kernel' AS kernel,
               TRY_CAST(d.description_json ->> '$.memory_bytes' AS BIGINT) / 1048576.0
                   AS memory_mb,
               d.description_json ->> '$.agent_version' AS agent_version,
               d.simulated, d.fingerprint_json::JSON AS fingerprint, d.cost_json::JSON AS cost,
               d.description_json::JSON AS description
        FROM devices d;
        """,
    ),
    (
        "0005_emulated",
        """
        -- Devices whose agent runs under user-mode emulation (qemu-user on another
        -- architecture), and every result measured there: their latency, throughput, memory
        -- and load are the emulator's, never a device's. NULL in older rows: not emulated.
        ALTER TABLE devices ADD COLUMN emulated BOOLEAN;
        ALTER TABLE results ADD COLUMN emulated BOOLEAN;
        """,
    ),
    (
        "0006_views_say_emulated",
        """
        -- The human-unit views carry the emulated flag too: a notebook reading results_h must
        -- not take an emulator's latency for a device's.
        CREATE OR REPLACE VIEW results_h AS
        SELECT r.run_id, r.job_id, ru.kind AS run_kind, ru.plan_name,
               ru.started_at AS run_started_at, r.device, r.model, r.variant, r.runtime,
               r.runtime_name, r.runtime_version,
               r.providers_used, r.scenario, r.batch_size, r.iterations,
               r.p50_ns / 1e6 AS p50_ms, r.p90_ns / 1e6 AS p90_ms, r.p99_ns / 1e6 AS p99_ms,
               r.mean_ns / 1e6 AS mean_ms, r.min_ns / 1e6 AS min_ms, r.max_ns / 1e6 AS max_ms,
               r.std_ns / 1e6 AS std_ms,
               r.p50_ci_low_ns / 1e6 AS p50_ci_low_ms, r.p50_ci_high_ns / 1e6 AS p50_ci_high_ms,
               r.throughput_ips,
               r.load_ns / 1e6 AS load_ms, r.compile_ns / 1e6 AS compile_ms, r.compile_cache_hit,
               r.first_inference_ns / 1e6 AS first_inference_ms,
               r.peak_rss_bytes / 1048576.0 AS peak_rss_mb,
               r.rss_before_load_bytes / 1048576.0 AS rss_before_load_mb,
               (r.measure_end_ns - r.measure_start_ns) / 1e9 AS measured_s, r.stop_reason,
               r.avg_power_mw / 1e3 AS avg_power_w, r.idle_power_mw / 1e3 AS idle_power_w,
               r.energy_per_inference_mj, r.dynamic_energy_per_inference_mj,
               r.energy_source, r.energy_coverage,
               r.peak_temp_mc / 1e3 AS peak_temp_c, r.throttled,
               r.throttle_reasons_json::JSON AS throttle_reasons,
               a.max_abs_err, a.mean_abs_err, a.max_rel_err, a.snr_db, a.cosine_similarity,
               a.top1_agreement, a.top5_agreement, a.within_tolerance,
               a.unknown_reason AS accuracy_unknown_reason, a.task_top1, a.task_top5,
               a.task_metric, a.task_metric_name,
               r.warnings_json::JSON AS warnings, r.inputs_json::JSON AS inputs,
               r.telemetry_json::JSON AS telemetry, r.soak_windows_json::JSON AS soak_windows,
               r.simulated, coalesce(r.emulated, false) AS emulated, r.created_at
        FROM results r
        JOIN runs ru ON ru.run_id = r.run_id
        LEFT JOIN accuracy a ON a.job_id = r.job_id AND a.output = '*';

        CREATE OR REPLACE VIEW devices_h AS
        SELECT d.run_id, d.device, d.device_class, d.tags_json::JSON AS tags, d.transport,
               d.description_json ->> '$.hostname' AS hostname,
               d.description_json ->> '$.cpu_model' AS cpu_model,
               d.description_json ->> '$.arch' AS arch,
               d.description_json ->> '$.os' AS os,
               d.description_json ->> '$.kernel' AS kernel,
               TRY_CAST(d.description_json ->> '$.memory_bytes' AS BIGINT) / 1048576.0
                   AS memory_mb,
               d.description_json ->> '$.agent_version' AS agent_version,
               d.simulated, coalesce(d.emulated, false) AS emulated,
               d.fingerprint_json::JSON AS fingerprint, d.cost_json::JSON AS cost,
               d.description_json::JSON AS description
        FROM devices d;
        """,
    ),
    (
        "0007_operator_profiles",
        """
        -- Per-operator profiles (a separate pass after the timed loop) and placement, in
        -- their own tables: one head row per profiled job, one row per operator.
        CREATE TABLE op_profiles (
            job_id VARCHAR PRIMARY KEY,
            requested_unit VARCHAR,             -- provider/device the job asked for first
            iterations INTEGER,                 -- profiled runs (after one warm-up run)
            wall_ns BIGINT,                     -- the profiling pass's own duration
            total_ns BIGINT,                    -- operator time summed over the pass
            note VARCHAR,                       -- e.g. 'not available: ...' when no rows
            off_unit_time_share DOUBLE,         -- share of operator time off the requested
                                                -- unit (NULL: unknown)
            off_unit_nodes INTEGER              -- operators off the requested unit (NULL: unknown)
        );
        CREATE TABLE op_rows (
            job_id VARCHAR NOT NULL,
            node VARCHAR NOT NULL,
            op_type VARCHAR,
            exec_unit VARCHAR,                  -- ORT provider, OpenVINO device, LiteRT delegate
            kernel VARCHAR,                     -- OpenVINO exec type (jit_avx2, ref...); '' unsaid
            calls INTEGER,
            total_ns BIGINT,
            mean_ns DOUBLE,
            share DOUBLE,                       -- of the job's operator time
            off_unit BOOLEAN                    -- not on the requested unit (NULL: cannot tell)
        );
        """,
    ),
    (
        "0008_load_scenarios",
        """
        -- Offline and server scenarios (agent/load, docs/ranking.md "Scenarios"). A load job's
        -- results row and latency_samples hold its headline point (offline: most samples/s;
        -- server: the peak rate that met the bound); load_points holds every point of the
        -- sweep or the search, load_samples every served request of every point.
        ALTER TABLE results ADD COLUMN scenario_kind VARCHAR;  -- single-stream | soak | offline
                                                              -- | server (NULL: stored before)
        ALTER TABLE results ADD COLUMN load_point INTEGER;     -- the headline's load_points.point
        CREATE TABLE load_points (
            job_id VARCHAR NOT NULL,
            point INTEGER NOT NULL,             -- in the order the points ran
            kind VARCHAR NOT NULL,              -- offline | server
            concurrency INTEGER NOT NULL,       -- executors, each its own session/interpreter
            batch_size INTEGER NOT NULL,        -- samples per request
            threads INTEGER NOT NULL,           -- intra-op threads of each executor
            target_qps DOUBLE,                  -- server: the Poisson rate asked for
            offered_qps DOUBLE,                 -- server: the rate its schedule realised
                                                -- (arrivals / last arrival's time)
            requests INTEGER NOT NULL,          -- served
            planned INTEGER NOT NULL,           -- scheduled (server) or taken (offline)
            duration_ns BIGINT NOT NULL,        -- start to the last served request's end
            achieved_qps DOUBLE,                -- served requests per second
            samples_per_s DOUBLE,               -- achieved_qps x batch_size
            p50_ns DOUBLE, p90_ns DOUBLE, p99_ns DOUBLE, mean_ns DOUBLE, max_ns DOUBLE,
            percentile DOUBLE,                  -- the bound's percentile (server)
            percentile_ns DOUBLE,               -- that percentile of these requests
            latency_bound_ms DOUBLE,            -- server: the bound; NULL: none
            bound_held BOOLEAN,                 -- NULL: no bound
            cpu_util DOUBLE,                    -- worker CPU time / (duration x cpus)
            cpus INTEGER,
            stop_reason VARCHAR,                -- completed | min_reached | bound_lost | ...
            headline BOOLEAN NOT NULL,          -- the point the results row describes
            search VARCHAR,                     -- server, qps auto: why the search stopped
            PRIMARY KEY (job_id, point)
        );
        CREATE TABLE load_samples (
            job_id VARCHAR NOT NULL,
            point INTEGER NOT NULL,
            request INTEGER NOT NULL,           -- served requests in issue order
            latency_ns BIGINT NOT NULL          -- server: from the scheduled arrival
        );
        CREATE VIEW load_points_h AS
        SELECT p.job_id, r.run_id, r.device, r.model, r.variant, r.runtime_name, r.scenario,
               p.point, p.kind, p.concurrency, p.batch_size, p.threads, p.target_qps,
               p.offered_qps, p.achieved_qps, p.samples_per_s, p.requests, p.planned,
               p.duration_ns / 1e9 AS duration_s,
               p.p50_ns / 1e6 AS p50_ms, p.p90_ns / 1e6 AS p90_ms, p.p99_ns / 1e6 AS p99_ms,
               p.mean_ns / 1e6 AS mean_ms, p.max_ns / 1e6 AS max_ms, p.percentile,
               p.percentile_ns / 1e6 AS percentile_ms, p.latency_bound_ms, p.bound_held,
               p.cpu_util, p.cpus, p.stop_reason, p.headline, p.search
        FROM load_points p JOIN results r ON r.job_id = p.job_id;
        """,
    ),
    (
        "0009_median_interval_method",
        """
        -- How each result's median interval was computed (rigbench.stats.median_interval):
        -- batch medians that account for dependence between iterations, or order statistics
        -- (independence assumed) for short runs; whether the batches were long enough; and
        -- how far the run's second half drifted from its first.
        ALTER TABLE results ADD COLUMN p50_ci_method VARCHAR;
        ALTER TABLE results ADD COLUMN p50_ci_reliable BOOLEAN;
        ALTER TABLE results ADD COLUMN p50_halves_ratio DOUBLE;
        """,
    ),
    (
        "0010_host_load",
        """
        -- What else the host did around each job's measured loop (agent/hostload.py): the
        -- 1-minute load average at both ends, other processes' CPU time and the hypervisor's
        -- steal, each as a share of the machine's CPU capacity. NULL: not measured there.
        ALTER TABLE results ADD COLUMN load_avg_1m_start DOUBLE;
        ALTER TABLE results ADD COLUMN load_avg_1m_end DOUBLE;
        ALTER TABLE results ADD COLUMN other_cpu_share DOUBLE;
        ALTER TABLE results ADD COLUMN steal_share DOUBLE;
        """,
    ),
    (
        "0011_nightly_pairs",
        """
        -- Nightly latency verdicts rest on pairs: tonight's artifact against the baseline
        -- night's, in interleaved rounds measured tonight (controller/nightly/pairs.py). What a
        -- check was based on, how many rounds and how spread they were (tonight's noise), and
        -- what the history alone said, for context.
        ALTER TABLE nightly_checks ADD COLUMN basis VARCHAR;       -- paired | A/A | history
        ALTER TABLE nightly_checks ADD COLUMN rounds INTEGER;
        ALTER TABLE nightly_checks ADD COLUMN round_spread DOUBLE; -- MAD of log ratios
        ALTER TABLE nightly_checks ADD COLUMN history_ratio DOUBLE;
        ALTER TABLE nightly_checks ADD COLUMN history_outcome VARCHAR;
        ALTER TABLE nightly_checks ADD COLUMN pairs_run_id VARCHAR;
        """,
    ),
    (
        "0012_run_context",
        """
        -- Which code each run measured (rigbench/context.py): from CI's environment or the
        -- command's flags; NULL where nothing said.
        ALTER TABLE runs ADD COLUMN git_sha VARCHAR;
        ALTER TABLE runs ADD COLUMN git_branch VARCHAR;
        ALTER TABLE runs ADD COLUMN pull_request VARCHAR;
        ALTER TABLE runs ADD COLUMN ci VARCHAR;  -- github | gitlab | jenkins | ... | env | flags
        """,
    ),
    (
        "0013_baseline_accepts",
        """
        -- Expected changes accepted as a series' new baseline (`rigbench baseline accept`),
        -- with the reason and the code context of whoever accepted them. The nightly's
        -- baseline for that series starts at the accepted run.
        CREATE TABLE baseline_accepts (
            run_id VARCHAR NOT NULL,            -- the nightly run whose numbers are accepted
            series VARCHAR NOT NULL,            -- job_key: device/model/variant/runtime/scenario
            why VARCHAR NOT NULL,
            accepted_at TIMESTAMP NOT NULL,
            git_sha VARCHAR,
            git_branch VARCHAR,
            pull_request VARCHAR,
            ci VARCHAR
        );
        """,
    ),
]
