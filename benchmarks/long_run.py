"""A simulated 24-hour run: does greenmeter's memory stay bounded?

The real sampler loop (``Sampler._loop``), the real RAPL sensor on a fake powercap tree,
the real estimate sensor and the real checkpoint (result + JSON + timeline file, every
10 s as in a run) go through a full day at the default 0.5 s interval: 172,800 samples,
8,640 checkpoints. Only time is fake: the sampler's clock and its stop event are one
object whose ``wait(timeout)`` advances the clock by ``timeout`` at once, and advancing
it moves the fake RAPL counters (a package at 95 W, wrapping as real ones do); memory is
estimated (a laptop without a RAPL DRAM zone) for a process tree holding 2 GB.

Printed every simulated 2 hours: samples taken, timeline points held in memory, the
report's size on disk, the process's RSS and Python's allocated blocks.

    python benchmarks/long_run.py [--hours 24] [--interval 0.5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from machine import REPO, describe

sys.path[:0] = [str(REPO), str(REPO / "tests")]

from greenmeter.carbon.footprint import CarbonOptions  # noqa: E402
from greenmeter.carbon.regions import resolve_region  # noqa: E402
from greenmeter.reports.run_files import write_report  # noqa: E402
from greenmeter.results import RunLabels  # noqa: E402
from greenmeter.run.options import CHECKPOINT_INTERVAL_S, Outputs, RunOptions  # noqa: E402
from greenmeter.run.result import build_result  # noqa: E402
from greenmeter.run.runner import ChildOutcome  # noqa: E402
from greenmeter.run.sampler import MAX_TIMELINE_POINTS, Sampler  # noqa: E402
from greenmeter.sensors import rapl  # noqa: E402
from greenmeter.sensors.estimate import CpuPowerModel, EstimateSensor  # noqa: E402

from powercap_tree import PowercapTree  # noqa: E402  (tests/ helper: kernel-like trees)

POWERS_W = {"intel-rapl:0": 95.0}
RANGE_UJ = 262_143_328_850  # a real package's range: wraps every ~46 min at 95 W


class FastTime:
    """The sampler's clock and stop event at once: waiting is instant and moves time."""

    def __init__(self, end_s: float, on_advance):
        self.t = 0.0
        self.end_s = end_s
        self._on_advance = on_advance
        self._set = False

    def __call__(self) -> float:
        return self.t

    def wait(self, timeout: float) -> bool:
        self.t += timeout
        self._on_advance(self.t)
        return self._set or self.t >= self.end_s

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


class SteadyTree:
    """A process tree holding 2 GB of memory, forever."""

    def usage(self) -> tuple[float, int]:
        return 0.0, 2_000_000_000


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    print(describe())
    end_s = args.hours * 3600

    with tempfile.TemporaryDirectory() as work:
        tree = PowercapTree(Path(work) / "host")
        tree.add_zone("intel-rapl:0", "package-0", 0, RANGE_UJ)
        counters = {zone: tree.zone_dir(zone) / "energy_uj" for zone in POWERS_W}

        def advance(t: float) -> None:  # the hardware's side: counters at known powers
            for zone, power_w in POWERS_W.items():
                counters[zone].write_text(f"{round(power_w * t * 1e6) % RANGE_UJ}\n")

        rows = []
        next_report_s = 0.0
        json_path = Path(work) / "run.json"
        options = RunOptions(
            labels=RunLabels("sim", ["train.py"]),
            argv=["train.py"],
            carbon=CarbonOptions(resolve_region("DE")),
            outputs=Outputs(json_path, Path(work) / "runs.csv"),
            interval_s=args.interval,
        )
        started_at = datetime.now(timezone.utc)

        def advance_and_watch(t: float) -> None:
            nonlocal next_report_s
            advance(t)
            if t >= next_report_s:
                next_report_s += 7200
                on_disk = sum(p.stat().st_size for p in Path(work).glob("run.*"))
                so_far = sampler.snapshot()
                rows.append(
                    (
                        f"{t / 3600:.0f}",
                        so_far.traces[0].reads,
                        len(so_far.timeline),
                        on_disk,
                        rss_mib(),
                        sys.getallocatedblocks(),
                    )
                )

        clock = FastTime(end_s, advance_and_watch)
        zones, _ = rapl.select_zones(rapl.discover_zones(tree.root), tree.root)
        sensors = [
            rapl.RaplSensor(zones, {}, clock=clock),
            EstimateSensor(
                SteadyTree(), {"dram"}, CpuPowerModel(3.5, 3.5, 3.5, "unused"), clock=clock
            ),
        ]

        def checkpoint(s: Sampler) -> None:  # what measure.py does every 10 s
            result = build_result(
                options, sensors, s.snapshot(), started_at=started_at, outcome=None, notes=[]
            )
            write_report(result, json_path)

        sampler = Sampler(
            sensors,
            args.interval,
            clock=clock,
            on_tick=checkpoint,
            tick_every_s=CHECKPOINT_INTERVAL_S,
        )
        # The real loop, with instant waits (the attribute is the sampler's stop event).
        sampler._stop = clock
        wall = time.monotonic()
        sampler.start()
        sampler._thread.join()
        measurement = sampler.stop()
        checkpoint(sampler)
        wall = time.monotonic() - wall
        next_report_s = clock.t
        advance_and_watch(clock.t)
        rows[-1] = ("end", *rows[-1][1:])  # after the exact last read and final checkpoint
        result = build_result(
            options,
            sensors,
            measurement,
            started_at=started_at,
            outcome=ChildOutcome(0, False, 0.0),
            notes=[],
        )

    print(
        f"\nsimulated {args.hours:g} h at --interval {args.interval:g} in {wall:.0f} s of wall time; "
        f"checkpoint every {CHECKPOINT_INTERVAL_S:g} s; timeline capped at {MAX_TIMELINE_POINTS} "
        f"points in memory\n"
    )
    print(
        "| simulated hour | samples | timeline points in memory | report + timeline on disk (kB) | RSS (MiB) | Python blocks |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for hour, samples, points, size, rss, blocks in rows:
        print(f"| {hour} | {samples} | {points} | {size / 1000:.0f} | {rss:.1f} | {blocks} |")
    energy = result.energy_j
    truth = POWERS_W["intel-rapl:0"] * measurement.duration_s
    print(
        f"\npackage energy {energy['cpu'] / 3.6e6:.6f} kWh against {truth / 3.6e6:.6f} kWh "
        f"true ({(energy['cpu'] - truth) / truth * 100:+.6f} %), "
        f"{result.components[0].details['wraps']} counter wraps undone; estimated memory "
        f"{energy['dram'] / 3600:.2f} Wh (2 GB x 0.392 W/GB x {args.hours:g} h = "
        f"{0.784 * measurement.duration_s / 3600:.2f} Wh)"
    )
    growth = rows[-1][4] - rows[1][4]
    print(
        f"RSS growth from hour {rows[1][0]} to the end: {growth:+.1f} MiB "
        f"({'bounded' if abs(growth) < 2 else 'GROWING'})"
    )


if __name__ == "__main__":
    main()
