"""The tune race against exhaustive measurement of the same space (docs/tune.md).

Synthetic part (simulated device time, no real measurement): seeded spaces of configurations
whose true median latencies are known, a few of them within 1-3% of the best, with
autocorrelated iterations, a level that moves between trials and a start-up cost per trial.
For each space it races with a budget of ``--share`` (30%) of what exhaustive measurement
(every configuration for ``--exhaustive-s`` seconds) costs, and reports per space:

* the device seconds each spent (simulated) and the race's share of the exhaustive time,
* trials run by each,
* whether the race's recommendation is the exhaustive search's best, whether the median the
  race measured for it lies within the exhaustive best's interval, whether its true median is
  within 5% of the true best's, and whether the truly best configuration was ever dropped.

Target (issue 18): the race's choice is within the exhaustive best's interval or within 5%,
in at most 30% of the exhaustive time. Run: ``.venv/bin/python benchmarks/bench_tune.py``
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from rigbench import stats
from rigbench.controller.tune import synthetic as syn
from rigbench.controller.tune.evidence import latency_objective
from rigbench.controller.tune.race import Race


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spaces", type=int, default=20, help="seeded spaces to race")
    ap.add_argument("--configs", type=int, default=36, help="configurations per space")
    ap.add_argument("--exhaustive-s", type=float, default=10.0, help="measured s per config")
    ap.add_argument("--share", type=float, default=0.3, help="race budget / exhaustive time")
    args = ap.parse_args()

    print(
        "SIMULATED device time (seeded synthetic spaces, docs/tune.md); "
        f"{args.configs} configurations per space, exhaustive {args.exhaustive_s:g} s each"
    )
    print(
        f"{'seed':>4} {'exh s':>7} {'race s':>7} {'share':>6} {'exh trials':>10} "
        f"{'race trials':>11} {'same best':>9} {'in exh CI':>9} {'<=5%':>5} {'best kept':>9}"
    )
    shares, oks, kept_all = [], 0, True
    for seed in range(args.spaces):
        space = syn.synthetic_space(seed, args.configs)
        truth = min(space, key=lambda c: space[c].median_ms)
        rng = np.random.default_rng(10_000 + seed)
        trials, exhaustive_s = syn.exhaustive(space, args.exhaustive_s, rng)
        medians = {c: stats.median_interval(t.latencies_ns) for c, t in trials.items()}  # type: ignore[arg-type]
        ex_best = min(medians, key=lambda c: medians[c].median)  # type: ignore[union-attr]
        ex_iv = medians[ex_best]
        race = Race(list(space), args.share * exhaustive_s, latency_objective())
        out = syn.run(race, space, np.random.default_rng(seed))
        rec = out.recommended.config if out.recommended else None
        true_rec = space[rec].median_ms * 1e6 if rec else float("inf")
        race_median = (
            out.recommended.evidence.median.median  # type: ignore[union-attr]
            if out.recommended is not None
            else float("inf")
        )
        in_ci = ex_iv is not None and ex_iv.low <= race_median <= ex_iv.high
        within = rec is not None and true_rec <= space[truth].median_ms * 1e6 * 1.05
        kept = out.entry(truth).pruned is None
        kept_all &= kept
        share = out.spent_s / exhaustive_s
        shares.append(share)
        oks += (in_ci or within) and share <= args.share + 1e-9
        race_trials = sum(len(e.trials) for e in out.entries)
        print(
            f"{seed:>4} {exhaustive_s:>7.1f} {out.spent_s:>7.1f} {share:>6.0%} {len(trials):>10} "
            f"{race_trials:>11} {str(rec == ex_best):>9} {str(in_ci):>9} {str(within):>5} "
            f"{str(kept):>9}"
        )
    print(
        f"\nmedian share of exhaustive time: {statistics.median(shares):.0%}; "
        f"target met (in the exhaustive best's interval or within 5%, <= {args.share:.0%} of "
        f"its time) on {oks}/{args.spaces} spaces; truly best never dropped: {kept_all}"
    )
    return 0 if oks == args.spaces and kept_all else 1


if __name__ == "__main__":
    sys.exit(main())
