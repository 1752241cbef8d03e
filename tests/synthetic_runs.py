"""Reports and timelines with known power profiles, for the timeline and HTML tests."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from greenmeter.reports.timeline import write_timeline
from greenmeter.run.sampler import Sampler
from greenmeter.sensors.base import Component, Sensor

DAY_S = 24 * 3600


class Comp:
    def __init__(self, kind, name, index=None, counted=True, method="measured", source="fake"):
        self.kind, self.name, self.index, self.counted = kind, name, index, counted
        self.method, self.source = method, source


def machine(gpus: int = 1, packages: int = 1) -> list[Comp]:
    comps = [Comp("gpu", "NVIDIA H100 80GB HBM3", i, source="nvml-energy") for i in range(gpus)]
    for p in range(packages):
        comps += [
            Comp("cpu", f"package-{p}", p, source="rapl"),
            Comp("dram", f"package-{p}", p, source="rapl"),
            Comp("core", f"package-{p}", p, counted=False, source="rapl"),
        ]
    return comps


def power_at(comp: Comp, t: float, rng: random.Random) -> float:
    """Training-like profiles: GPUs busy in 20-minute epochs with a 2-minute evaluation dip."""
    busy = (t % 1320) < 1200
    if comp.kind == "gpu":
        return (380.0 if busy else 90.0) + rng.uniform(-25, 25)
    if comp.kind == "cpu":
        return 60.0 + 30.0 * math.sin(t / 900.0) ** 2 + rng.uniform(-5, 5)
    if comp.kind == "dram":
        return 12.0
    return 40.0  # core: a detail inside its package


def points(comps: list[Comp], duration_s: float, step_s: float, seed: int = 7):
    """Cumulative joules per component every ``step_s`` (what a sampler records)."""
    rng = random.Random(seed)
    cumulative = [0.0] * len(comps)
    out = [(0.0, list(cumulative))]
    n = round(duration_s / step_s)
    for i in range(1, n + 1):
        t = i * step_s
        cumulative = [e + power_at(c, t, rng) * step_s for e, c in zip(cumulative, comps)]
        out.append((t, list(cumulative)))
    return out


class _Replay(Sensor):
    """Gives the cumulative joules it is set to: a recorded profile played back."""

    def __init__(self, comps: list[Comp]):
        self.components = tuple(
            Component(c.kind, c.name, c.source, c.method, c.index, c.counted) for c in comps
        )
        self.energies_j: list[float | None] = [0.0] * len(comps)

    def read_energy_j(self):
        return list(self.energies_j)


def sampled(comps: list[Comp], pts):
    """The timeline greenmeter keeps of ``pts`` (its sampler's bound and spacing): what a
    run of that profile would store."""
    sensor, now = _Replay(comps), [pts[0][0]]
    sampler = Sampler([sensor], 1.0, clock=lambda: now[0])
    sensor.energies_j = pts[0][1]
    sampler.begin()
    for t, energies in pts[1:]:
        now[0], sensor.energies_j = t, energies
        sampler.sample()
    return sampler.snapshot().timeline


def report(
    comps: list[Comp],
    pts,
    run_id="20250101T000000Z-00000001",
    command=("python3", "train.py", "--epochs", "3"),
    started_at="2025-01-01T00:00:00.000Z",
    ended_at="2025-01-02T00:00:00.000Z",
    intensity=380.0,
    units=None,
    **extra,
) -> dict:
    final = pts[-1][1]
    duration = pts[-1][0]
    components = [
        {
            "kind": c.kind,
            "name": c.name,
            "index": c.index,
            "source": c.source,
            "method": c.method,
            "counted": c.counted,
            "energy_j": e,
            "mean_power_w": e / duration if duration else None,
            "samples": len(pts),
            "partial": False,
            "covered_s": duration,
            "details": {
                "mean_utilization_pct": 87.5,
                "peak_memory_used_mib": 40960.0,
                "shared_gpu": False,
            }
            if c.kind == "gpu"
            else {},
        }
        for c, e in zip(comps, final)
    ]
    by_kind = {
        k: sum(e for c, e in zip(comps, final) if c.counted and c.kind == k) or None
        for k in ("cpu", "gpu", "dram")
    }
    total = sum(v for v in by_kind.values() if v)
    kwh = total / 3.6e6
    return {
        "schema_version": 1,
        "run_id": run_id,
        "greenmeter_version": "0.1.0",
        "command": list(command),
        "exit_code": 0,
        "interrupted": False,
        "partial": False,
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_s": duration,
        "host": {
            "hostname": "node1",
            "os": "Linux",
            "python": "3.11",
            "cpu_model": "Xeon",
            "gpu_models": sorted({c.name for c in comps if c.kind == "gpu"}),
        },
        "energy_j": {"total": total, **by_kind},
        "components": components,
        "carbon": {
            "region": "DE",
            "zone_id": "DE",
            "zone_name": "Germany",
            "intensity_g_per_kwh": intensity,
            "intensity_source": "ember",
            "intensity_year": 2024,
            "basis": "lifecycle",
            "region_fallback": False,
            "pue": 1.0,
            "energy_kwh": kwh,
            "energy_kwh_with_pue": kwh,
            "co2_g": kwh * intensity,
        },
        "warnings": [],
        **(
            {
                "units": units,
                "unit_name": "samples",
                "energy_j_per_unit": total / units,
                "co2_g_per_unit": kwh * intensity / units,
            }
            if units
            else {}
        ),
        **extra,
    }


def write_run(directory: Path, name: str, comps: list[Comp], pts, **kwargs) -> Path:
    """A report and its timeline, as ``greenmeter run`` leaves them."""
    path = directory / f"{name}.json"
    data = report(comps, pts, **kwargs)
    data["timeline"] = write_timeline(path, comps, sampled(comps, pts))
    path.write_text(json.dumps(data))
    return path


PYTHON = "/home/alice/mnist/.venv/bin/python"
BATCH_SIZES = (32, 64, 256)
FAILED_RUN = 5
"""Of :func:`nine_runs`: run #5 (the second with batch size 64) exited with 1."""


def nine_runs(directory: Path) -> list[Path]:
    """Three batch sizes, three runs each, tagged, run #5 failed: a tuning sweep. Larger
    batches take less time (and energy) for the same 60 000 samples."""
    comps = machine(gpus=1, packages=1)
    paths = []
    for n in range(1, 10):
        batch = BATCH_SIZES[(n - 1) // 3]
        duration_s = {32: 900, 64: 700, 256: 420}[batch] + 9 * ((n - 1) % 3)
        paths.append(
            write_run(
                directory,
                f"run{n}",
                comps,
                points(comps, duration_s, 5.0, seed=n),
                run_id=f"2025010{n}T000000Z-0000000{n}",
                started_at=f"2025-01-0{n}T00:00:00.000Z",
                command=[PYTHON, "train.py", "--epochs", "3", "--batch-size", str(batch)],
                tags={"model": "cnn", "bs": str(batch)},
                exit_code=1 if n == FAILED_RUN else 0,
                units=60_000,
            )
        )
    return paths
