"""The no-hardware estimate: CPU and memory energy of the command's process tree.

Used for every kind no hardware sensor measures (cloud VMs, CI runners, laptops whose
RAPL files are root-only). Always labelled ``estimated`` with the model in ``source``.

CPU: energy = CPU seconds of the process tree x power of one busy logical CPU. The tree's
CPU time comes from :class:`~greenmeter.process_tree.ProcessTree` (children that already
exited included). The power per busy logical CPU is the CPU model's TDP (bundled table,
CodeCarbon's MIT ``cpu_power.csv``) divided by the logical CPUs per package; on a virtual
machine, or for a model not in the table, the package is unknown, so it is Cloud Carbon
Footprint's average maximum watts per vCPU (3.5 W, SPECpower-derived).

Memory: energy = resident memory of the tree x 0.392 W per GB (Cloud Carbon Footprint's
memory coefficient, 0.000392 kWh per GB-hour).
"""

from __future__ import annotations

import csv
import functools
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from greenmeter.sensors.base import ESTIMATED, Component, Sensor
from greenmeter.sensors.process_tree import ProcessTree

WATTS_PER_VCPU = 3.5
"""Cloud Carbon Footprint, AWS average maximum watts per vCPU (SPECpower)."""
WATTS_PER_GB_MEMORY = 0.392
"""Cloud Carbon Footprint memory coefficient: 0.000392 kWh per GB-hour."""
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


def describe_inputs() -> dict:
    """The estimate's inputs, for ``greenmeter doctor`` and the report."""
    cpuinfo = read_cpuinfo()
    model = cpu_model(cpuinfo)
    logical = os.cpu_count() or 1
    packages = _package_count(cpuinfo)
    vm = _is_virtual_machine(cpuinfo)
    found = find_tdp_w(model)
    if found and not vm:
        tdp_w, entry = found
        watts = tdp_w / max(1, logical // packages)
        basis = f"TDP {tdp_w:g} W ('{entry}') / {logical // packages} logical CPUs per package"
    else:
        tdp_w, entry = found or (None, None)
        watts = WATTS_PER_VCPU
        why = "virtual machine" if vm else "CPU model not in the TDP table"
        basis = f"{WATTS_PER_VCPU} W per busy vCPU (Cloud Carbon Footprint; {why})"
    return {
        "cpu_model": model,
        "tdp_w": tdp_w,
        "tdp_table_entry": entry,
        "logical_cpus": logical,
        "packages": packages,
        "virtual_machine": vm,
        "watts_per_busy_cpu": watts,
        "cpu_basis": basis,
        "watts_per_gb_memory": WATTS_PER_GB_MEMORY,
    }


class EstimateSensor(Sensor):
    """CPU and/or memory energy of the process tree, modelled (see module docstring)."""

    def __init__(
        self,
        tree: ProcessTree,
        kinds: set[str],
        watts_per_cpu: float,
        cpu_basis: str,
        clock=time.monotonic,
    ):
        self._tree = tree
        self._clock = clock
        self._watts_per_cpu = watts_per_cpu
        components = []
        if "cpu" in kinds:
            components.append(Component("cpu", "process tree", "estimate-cpu-time", ESTIMATED))
        if "dram" in kinds:
            components.append(Component("dram", "process tree", "estimate-rss", ESTIMATED))
        self.components = tuple(components)
        self._cpu_basis = cpu_basis
        self._memory_j = 0.0
        self._last_t = clock()
        self._last_rss_b = 0
        self._peak_rss_b = 0

    def read_energy_j(self) -> list[float | None]:
        now = self._clock()
        cpu_s, rss_b = self._tree.usage()  # one walk of the tree for both
        values: list[float | None] = []
        for comp in self.components:
            if comp.kind == "cpu":
                values.append(cpu_s * self._watts_per_cpu)
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

    def details(self) -> list[dict]:
        out = []
        for comp in self.components:
            if comp.kind == "cpu":
                out.append({"model": self._cpu_basis, "cpu_s": round(self._tree.cpu_seconds(), 3)})
            else:
                out.append(
                    {
                        "model": f"{WATTS_PER_GB_MEMORY} W per GB resident",
                        "peak_rss_mb": round(self._peak_rss_b / 1e6, 1),
                    }
                )
        return out


def open_estimate(tree: ProcessTree, kinds: set[str], tdp_w: float | None = None) -> EstimateSensor:
    """An estimate for ``kinds`` (a subset of {"cpu", "dram"}).

    ``tdp_w`` overrides the table (the ``cpu_tdp_w`` setting) for a model it lacks."""
    if tdp_w is not None:
        per_package = max(1, (os.cpu_count() or 1) // _package_count(read_cpuinfo()))
        return EstimateSensor(
            tree,
            kinds,
            tdp_w / per_package,
            f"TDP {tdp_w:g} W (configured) / {per_package} logical CPUs per package",
        )
    inputs = describe_inputs()
    return EstimateSensor(tree, kinds, inputs["watts_per_busy_cpu"], inputs["cpu_basis"])
