"""Build the fake libnvidia-ml.so.1 and compute the truth it is built around.

The C library (``fake_nvml.c``) draws power as an analytic function of CLOCK_MONOTONIC;
:func:`energy_j` here is the same function's exact integral, so with the library's read
log (``FAKE_NVML_LOG``) a test knows exactly when greenmeter read each GPU and how many
joules really went through it in between.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("fake_nvml.c")


def build(directory: Path) -> Path:
    """Compile the library as ``directory/libnvidia-ml.so.1``; returns ``directory``
    (the value for LD_LIBRARY_PATH)."""
    compiler = shutil.which("cc")
    if compiler is None:
        raise FileNotFoundError("cc")
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            compiler,
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            "-o",
            str(directory / "libnvidia-ml.so.1"),
            str(SOURCE),
            "-lm",
        ],
        check=True,
    )
    return directory


@dataclass(frozen=True)
class Profile:
    """Mirror of the C profiles: ``const:W``, ``square:LOW:HIGH:PERIOD``, ``ramp:...``."""

    kind: str
    low_w: float
    high_w: float
    period_s: float = 1.0

    @classmethod
    def parse(cls, spec: str) -> Profile:
        kind, *numbers = spec.split(":")
        values = [float(n) for n in numbers]
        if kind == "const":
            return cls("const", values[0], values[0])
        return cls(kind, *values)

    def energy_j(self, t: float) -> float:
        """Exact integral of the power from t = 0 (boot) to ``t``, in joules."""
        periods = math.floor(t / self.period_s)
        phase = t - periods * self.period_s
        half = self.period_s / 2
        whole = periods * self.period_s * (self.low_w + self.high_w) / 2
        if self.kind == "square":
            if phase < half:
                return whole + self.high_w * phase
            return whole + self.high_w * half + self.low_w * (phase - half)
        if self.kind == "ramp":
            return (
                whole
                + self.low_w * phase
                + (self.high_w - self.low_w) * phase * phase / (2 * self.period_s)
            )
        return self.low_w * t

    def between_j(self, start_s: float, end_s: float) -> float:
        return self.energy_j(end_s) - self.energy_j(start_s)


@dataclass(frozen=True)
class Read:
    time_s: float
    call: str
    gpu: int
    value: int


def read_log(path: Path) -> list[Read]:
    reads = []
    for line in path.read_text().splitlines():
        time_s, call, gpu, value = line.split()
        reads.append(Read(float(time_s), call, int(gpu), int(value)))
    return reads


def truth_j(log: Path, gpu: int, call: str, profile: str) -> float:
    """Joules the fake GPU drew between greenmeter's first and last ``call`` ("energy" or
    "power") on ``gpu``. The sensor probes each GPU once when it opens, before the command
    starts: that read is in the log too and is not part of the run, so it is skipped."""
    times = [r.time_s for r in read_log(log) if r.gpu == gpu and r.call == call][1:]
    return Profile.parse(profile).between_j(times[0], times[-1])
