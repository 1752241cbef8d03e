"""How much CO2e ``greenmeter when``'s historic-profile policy saves, against starting at once
and against a perfect-knowledge oracle, for a 3 h job that must end within 24 h, at every start
hour of a held-out year (issue 17).

For each zone with hourly history in ``../shared/grid-sources`` (see its README):

- the three-year zones (BR, ES, NO, US-CAL-CISO): the profile is trained on 2021-2022 and tested
  on every hour of 2023;
- the one-year zones (DE, FR, GB, PL; 2022 only): trained on the odd days of 2022 and tested on
  windows that start on its even days (a window's second day is a training day: slightly
  optimistic, and said so).

Each start hour ``h`` gives one window [h, h + 24 h). Three starts are scored on what the grid
really did (the actual hourly life-cycle intensity, mean over the job's 3 hours):

- now: start at ``h``;
- profile: greenmeter's own search (``greenmeter.carbon.when.window.best_starts``) over the
  trained profile's mean for those hours, the choice ``greenmeter when`` makes without a forecast;
- oracle: the same search over the actual intensity (the best any policy could do).

Savings are ``1 - start / now`` per window; the table gives their median and mean, and how much
of the oracle's saving the profile captures (ratio of means). A second profile row splits
weekdays from weekends in each cell, to measure whether that helps (and the mean absolute error
of each profile's hourly prediction). Pure Python; about a minute.

    python3 benchmarks/when_policy.py [SOURCES_DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from greenmeter.carbon.intensity_series import IntensitySeries  # noqa: E402
from greenmeter.carbon.when.window import JobShape, best_starts  # noqa: E402

H = 3600.0
JOB_H, WINDOW_H = 3, 24


def build_script():
    """scripts/build_grid_data.py as a module: the profiles here are built by the same code."""
    spec = importlib.util.spec_from_file_location(
        "build_grid_data", REPO / "scripts" / "build_grid_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cell_key(moment: datetime, split_weekend: bool) -> tuple:
    key = (moment.month, moment.hour)
    return (*key, moment.weekday() >= 5) if split_weekend else key


def evaluate(build, train, test, test_starts, split_weekend: bool):
    cells = {
        k: statistics.fmean(v)
        for k, v in build.hourly_profile(train, split_weekend=split_weekend).items()
    }
    moments = [m for m, _ in test]
    actual = [v for _, v in test]
    predicted = [cells[cell_key(m, split_weekend)] for m in moments]
    mae = statistics.fmean(abs(p - a) for p, a in zip(predicted, actual))
    times = [m.timestamp() for m in moments]
    job = JobShape.flat(JOB_H * H)
    now, profile, oracle = [], [], []
    for i in test_starts:
        window = slice(i, i + WINDOW_H)
        t0, t1 = times[i], times[i] + WINDOW_H * H
        seen = IntensitySeries(times[window], predicted[window], source="profile")
        real = IntensitySeries(times[window], actual[window], source="actual")
        chosen, _, _ = best_starts(seen, job, t0, t1, alternatives=0)
        best, start_now, _ = best_starts(real, job, t0, t1, alternatives=0)
        j = i + round((chosen.start_s - t0) / H)
        now.append(start_now.intensity_g_per_kwh)
        profile.append(statistics.fmean(actual[j : j + JOB_H]))
        oracle.append(best.intensity_g_per_kwh)
    return mae, now, profile, oracle


def savings(now, chosen):
    return [1 - c / n for n, c in zip(now, chosen) if n > 0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("GREENMETER_GRID_SOURCES") or REPO.parent / "shared" / "grid-sources"
    parser.add_argument("sources", nargs="?", type=Path, default=Path(default))
    args = parser.parse_args(argv)
    build = build_script()
    print(f"sources: {args.sources}; job {JOB_H} h, window {WINDOW_H} h, every start hour\n")
    print(
        "| zone | train -> test | windows | now g/kWh | profile saving median / mean | "
        "oracle saving median / mean | profile captures | hourly MAE g/kWh | "
        "weekday/weekend split: saving mean, MAE |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for zone, files in build.HOURLY_HISTORY.items():
        points = [
            p for name in files for p in build.read_hourly((args.sources / name).read_bytes())
        ]
        if len(files) > 1:
            train = [p for p in points if p[0].year < 2023]
            test = [p for p in points if p[0].year == 2023]
            starts = list(range(len(test) - WINDOW_H + 1))
            split = "2021-2022 -> 2023"
        else:
            train = [p for p in points if p[0].day % 2 == 1]
            test = points
            starts = [
                i for i, (m, _) in enumerate(test[: len(test) - WINDOW_H + 1]) if m.day % 2 == 0
            ]
            split = "2022 odd days -> even days"
        results = {}
        for split_weekend in (False, True):
            results[split_weekend] = evaluate(build, train, test, starts, split_weekend)
        mae, now, profile, oracle = results[False]
        s_profile, s_oracle = savings(now, profile), savings(now, oracle)
        mae_split, now2, profile2, _ = results[True]
        s_split = savings(now2, profile2)
        captured = statistics.fmean(s_profile) / statistics.fmean(s_oracle)
        print(
            f"| {zone} | {split} | {len(starts)} | {statistics.fmean(now):.0f} | "
            f"{100 * statistics.median(s_profile):.1f} % / {100 * statistics.fmean(s_profile):.1f} % | "
            f"{100 * statistics.median(s_oracle):.1f} % / {100 * statistics.fmean(s_oracle):.1f} % | "
            f"{100 * captured:.0f} % | {mae:.1f} | "
            f"{100 * statistics.fmean(s_split):.1f} %, {mae_split:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
