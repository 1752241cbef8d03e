"""The no-hardware estimate: CPU and memory energy of the command's process tree.

Used for every kind no hardware sensor measures (cloud VMs, CI runners, laptops whose
RAPL files are root-only). Always labelled ``estimated`` with the model in ``source``,
and always with a range: the figure the model's inputs allow at their low and high ends
(docs/estimates.md says where each end comes from).

CPU: energy = CPU seconds of the process tree x power of one busy logical CPU
(:class:`CpuPowerModel`). The tree's CPU time comes from
:class:`~greenmeter.sensors.process_tree.ProcessTree` (children that already exited
included). The power per busy logical CPU is, in this order: the user's watts per vCPU;
the package TDP (given, or from the bundled table, CodeCarbon's MIT ``cpu_power.csv``)
divided by the package's logical CPUs (on a VM: the host package's threads, which only
the user knows); else Cloud Carbon Footprint's average maximum watts per vCPU (3.5 W,
SPECpower-derived), the range being CCF's per-microarchitecture maxima.

Memory: energy = resident memory of the tree x 0.392 W per GB (Cloud Carbon Footprint's
memory coefficient, 0.000392 kWh per GB-hour).

Static share (``--static-share``, off by default): the idle power of the machine that the
command's vCPUs stand for, charged for the whole run (CCF's average minimum watts per vCPU,
0.74 W, unless given). Off by default because it is not energy the command caused: see
docs/estimates.md.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from greenmeter.sensors.base import ESTIMATED, Component, Sensor
from greenmeter.sensors.process_tree import ProcessTree

WATTS_PER_VCPU = 3.5
"""Cloud Carbon Footprint, AWS average maximum watts per vCPU (SPECpower)."""
WATTS_PER_VCPU_RANGE = (1.64, 5.99)
"""The lowest and highest of CCF's per-microarchitecture maximum watts per vCPU (AMD EPYC
2nd gen, Intel Haswell): where an unknown vCPU's 3.5 W may really lie."""
TDP_SHARE_LOW = 0.5
"""The low end of a TDP-based figure: the package at half its TDP (CodeCarbon's constant
mode assumes 50 %; memory-bound work keeps cores waiting)."""
WATTS_PER_GB_MEMORY = 0.392
"""Cloud Carbon Footprint memory coefficient: 0.000392 kWh per GB-hour."""
MEMORY_RANGE_FACTORS = (0.5, 1.5)
"""The memory figure's range, x0.5 to x1.5: DIMM power per GB falls with module size and
rises with traffic (judgement from DDR4/DDR5 datasheets; docs/estimates.md)."""
STATIC_WATTS_PER_VCPU = 0.74
"""Cloud Carbon Footprint, AWS average minimum (idle) watts per vCPU: ``--static-share``."""
STATIC_WATTS_PER_VCPU_RANGE = (0.45, 1.90)
"""CCF's per-microarchitecture minima (AMD EPYC 3rd gen, Intel Haswell)."""
CPU_POWER_TABLE = Path(__file__).resolve().parent.parent / "data" / "cpu_power.csv"

_TRADEMARKS = re.compile(r"\((R|TM|tm|r)\)|®|™")
_CLOCK = re.compile(r"@\s*[\d.]+\s*GHz", re.IGNORECASE)
_FILLER = re.compile(r"\b(CPU|Processor|\d+-Core|with Radeon.*)\b", re.IGNORECASE)


CPUINFO = Path("/proc/cpuinfo")


@functools.lru_cache(maxsize=1)
def read_cpuinfo() -> str:
    """``/proc/cpuinfo`` ("" where there is none). Read once per process: the model,
    package and hypervisor lines it is used for do not change while greenmeter runs."""
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str | None:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model name", "cpu model") and value.strip():
            return value.strip()
    return None


def _is_virtual_machine(cpuinfo: str) -> bool:
    # The "hypervisor" CPUID bit: set by every mainstream hypervisor for its guests.
    return re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.M) is not None


def _package_count(cpuinfo: str) -> int:
    ids = {
        line.partition(":")[2].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("physical id")
    }
    return max(1, len(ids))


def _cores_per_package(cpuinfo: str) -> int | None:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "cpu cores" and value.strip().isdigit():
            return max(1, int(value))
    return None


def normalise_model(model: str) -> str:
    model = _FILLER.sub(" ", _CLOCK.sub(" ", _TRADEMARKS.sub(" ", model)))
    return " ".join(model.split()).lower()


def _has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def _rows_mentioning(words: list[str]) -> Iterator[tuple[str, float]]:
    """(name as in the table, TDP in watts) of the rows whose line holds one of ``words``
    (lower case), in table order. Only those lines are parsed: the whole table (~5,000
    rows) would cost ~10 ms of every run's start-up."""
    with CPU_POWER_TABLE.open(newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        header = next(csv.reader([next(lines, "")]))
        if "Name" not in header or "TDP" not in header:
            return
        name_col, tdp_col = header.index("Name"), header.index("TDP")
        wanted = (line for line in lines if any(w in line.lower() for w in words))
        for row in csv.reader(wanted):
            try:
                yield row[name_col], float(row[tdp_col])
            except (IndexError, ValueError):
                continue


def find_tdp_w(model: str | None) -> tuple[float, str] | None:
    """(TDP in watts, matched table entry) for a CPU model string, or None.

    The table names models without vendor prefixes ("Xeon Gold 6148", "Ryzen 7 5800X"), so
    the longest normalised table name that occurs as whole words in the normalised model
    wins (the first such name in the table on a tie; a name listed twice takes its last
    TDP). Names without a digit are skipped: "Xeon" alone would match any Xeon, a guess."""
    if not model:
        return None
    words = normalise_model(model).split()
    # A name that matches holds one of the model's words with a digit; normalising only
    # cuts and lower-cases, so that word is already in the table's line, lower-cased.
    digit_words = [w for w in words if _has_digit(w)]
    if not digit_words:
        return None
    runs = {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}
    best: tuple[float, str] | None = None
    for raw_name, tdp_w in _rows_mentioning(digit_words):
        name = normalise_model(raw_name)
        if name not in runs or not _has_digit(name):
            continue
        if best is None or len(name) > len(best[1]) or name == best[1]:
            best = (tdp_w, name)
    return best


@dataclass(frozen=True)
class EstimateSettings:
    """What the user told the estimate (``--cpu-tdp``, ``--cpu-host-threads``,
    ``--cpu-watts-per-vcpu``, ``--static-share``); all None: the defaults above."""

    tdp_w: float | None = None
    host_threads: int | None = None
    watts_per_vcpu: float | None = None
    static_w_per_vcpu: float | None = None


class CpuEstimateSettingsError(ValueError):
    """Settings the CPU estimate cannot use here (``--cpu-tdp`` on a VM without the host's
    threads); refused before launch."""


@dataclass(frozen=True)
class CpuPowerModel:
    """Power of one busy logical CPU, with the range its inputs allow."""

    watts: float
    low_w: float
    high_w: float
    basis: str
    """How the figure was made, for the report and doctor."""


def cpu_power_model(
    cpuinfo: str,
    logical_cpus: int,
    *,
    tdp_w: float | None = None,
    host_threads: int | None = None,
    watts_per_vcpu: float | None = None,
) -> CpuPowerModel:
    """The power per busy logical CPU for this machine and these settings.

    On a virtual machine the guest sees its own vCPUs, not the host package that a TDP
    belongs to: a TDP is only usable with the host package's thread count, else 360 W on 2
    vCPUs would become 180 W per busy thread."""
    vm = _is_virtual_machine(cpuinfo)
    if watts_per_vcpu is not None:
        return CpuPowerModel(
            watts_per_vcpu,
            watts_per_vcpu,
            watts_per_vcpu,
            f"{watts_per_vcpu:g} W per busy vCPU (configured; range as given)",
        )
    packages = _package_count(cpuinfo)
    if tdp_w is not None:
        if host_threads is None and vm:
            raise CpuEstimateSettingsError(
                "--cpu-tdp on a virtual machine needs the host package's thread count "
                "(--cpu-host-threads N), or give --cpu-watts-per-vcpu W instead"
            )
        origin = "configured"
        entry = None
    else:
        found = None if vm else find_tdp_w(cpu_model(cpuinfo))
        if found is None:
            why = "virtual machine" if vm else "CPU model not in the TDP table"
            low, high = WATTS_PER_VCPU_RANGE
            return CpuPowerModel(
                WATTS_PER_VCPU,
                low,
                high,
                f"{WATTS_PER_VCPU} W per busy vCPU (Cloud Carbon Footprint; {why}; "
                f"range {low}-{high} W)",
            )
        tdp_w, entry = found
        origin = f"'{entry}'"
    if host_threads is not None:
        threads, cores = host_threads, max(1, host_threads // 2)
        where = f"{threads} host threads"
    else:
        threads = max(1, logical_cpus // packages)
        cores = min(threads, _cores_per_package(cpuinfo) or threads)
        where = f"{threads} logical CPUs per package"
    watts = tdp_w / threads
    # High end: one busy thread per core, its sibling idle, takes the whole core's share.
    low, high = TDP_SHARE_LOW * watts, tdp_w / cores
    return CpuPowerModel(
        watts,
        low,
        high,
        f"TDP {tdp_w:g} W ({origin}) / {where}; range {low:.3g}-{high:.3g} W",
    )


def describe_inputs(settings: EstimateSettings = EstimateSettings()) -> dict:
    """The estimate's inputs, for ``greenmeter doctor`` and the report."""
    cpuinfo = read_cpuinfo()
    model = cpu_model(cpuinfo)
    logical = os.cpu_count() or 1
    vm = _is_virtual_machine(cpuinfo)
    found = find_tdp_w(model)
    power = cpu_power_model(
        cpuinfo,
        logical,
        tdp_w=settings.tdp_w,
        host_threads=settings.host_threads,
        watts_per_vcpu=settings.watts_per_vcpu,
    )
    return {
        "cpu_model": model,
        "tdp_w": settings.tdp_w if settings.tdp_w is not None else (found[0] if found else None),
        "tdp_table_entry": found[1] if found else None,
        "logical_cpus": logical,
        "packages": _package_count(cpuinfo),
        "virtual_machine": vm,
        "watts_per_busy_cpu": power.watts,
        "watts_per_busy_cpu_range": [power.low_w, power.high_w],
        "cpu_basis": power.basis,
        "watts_per_gb_memory": WATTS_PER_GB_MEMORY,
    }


class EstimateSensor(Sensor):
    """CPU and/or memory energy of the process tree, modelled (see module docstring), and
    the static share when asked for."""

    def __init__(
        self,
        tree: ProcessTree,
        kinds: set[str],
        cpu_power: CpuPowerModel,
        clock=time.monotonic,
        static_w_per_vcpu: float | None = None,
        vcpus: int = 1,
    ):
        self._tree = tree
        self._clock = clock
        self._cpu_power = cpu_power
        self._static_w = None if static_w_per_vcpu is None else static_w_per_vcpu * vcpus
        self._static_basis = (
            None
            if static_w_per_vcpu is None
            else f"{static_w_per_vcpu:g} W per vCPU x {vcpus} vCPUs the command may use"
        )
        self._static_default = static_w_per_vcpu == STATIC_WATTS_PER_VCPU
        components = []
        if "cpu" in kinds:
            components.append(Component("cpu", "process tree", "estimate-cpu-time", ESTIMATED))
        if "dram" in kinds:
            components.append(Component("dram", "process tree", "estimate-rss", ESTIMATED))
        if self._static_w is not None:
            components.append(Component("cpu", "static share", "estimate-static", ESTIMATED))
        self.components = tuple(components)
        self._memory_j = 0.0
        self._first_t = self._last_t = clock()
        self._last_rss_b = 0
        self._peak_rss_b = 0

    def read_energy_j(self) -> list[float | None]:
        if not self.components:
            return []  # hardware measures both kinds: nothing to walk the tree for
        now = self._clock()
        cpu_s, rss_b = self._tree.usage()  # one walk of the tree for both
        values: list[float | None] = []
        for comp in self.components:
            if comp.source == "estimate-cpu-time":
                values.append(cpu_s * self._cpu_power.watts)
            elif comp.source == "estimate-static":
                values.append(self._static_w * (now - self._first_t))
            else:
                # The resident size seen at the previous read holds until this one.
                self._memory_j += (
                    self._last_rss_b / 1e9 * WATTS_PER_GB_MEMORY * (now - self._last_t)
                )
                self._last_rss_b = rss_b
                self._peak_rss_b = max(self._peak_rss_b, self._last_rss_b)
                values.append(self._memory_j)
        self._last_t = now
        return values

    def range_factors(self) -> list[tuple[float, float] | None]:
        power = self._cpu_power
        static_low, static_high = (
            (w / STATIC_WATTS_PER_VCPU for w in STATIC_WATTS_PER_VCPU_RANGE)
            if self._static_default
            else (1.0, 1.0)
        )
        factors = {
            "estimate-cpu-time": (power.low_w / power.watts, power.high_w / power.watts),
            "estimate-rss": MEMORY_RANGE_FACTORS,
            "estimate-static": (static_low, static_high),
        }
        return [factors[comp.source] for comp in self.components]

    def details(self) -> list[dict]:
        out = []
        for comp in self.components:
            if comp.source == "estimate-cpu-time":
                out.append(
                    {"model": self._cpu_power.basis, "cpu_s": round(self._tree.cpu_seconds(), 3)}
                )
            elif comp.source == "estimate-static":
                out.append({"model": self._static_basis})
            else:
                out.append(
                    {
                        "model": f"{WATTS_PER_GB_MEMORY} W per GB resident",
                        "peak_rss_mb": round(self._peak_rss_b / 1e6, 1),
                    }
                )
        return out


def command_vcpus() -> int:
    """The logical CPUs the command may run on (its affinity), which the static share
    charges for."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def open_estimate(
    tree: ProcessTree, kinds: set[str], settings: EstimateSettings = EstimateSettings()
) -> EstimateSensor:
    """An estimate for ``kinds`` (a subset of {"cpu", "dram"}), with the static share when
    asked for and the CPU is estimated (a measured package already includes its idle
    power). Raises :class:`CpuEstimateSettingsError` for settings that cannot apply here."""
    power = cpu_power_model(
        read_cpuinfo(),
        os.cpu_count() or 1,
        tdp_w=settings.tdp_w,
        host_threads=settings.host_threads,
        watts_per_vcpu=settings.watts_per_vcpu,
    )
    return EstimateSensor(
        tree,
        kinds,
        power,
        static_w_per_vcpu=settings.static_w_per_vcpu if "cpu" in kinds else None,
        vcpus=command_vcpus(),
    )
