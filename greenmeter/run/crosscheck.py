"""``greenmeter run --cross-check codecarbon``: CodeCarbon's figures for the same run,
beside greenmeter's, for users who already trust (or doubt) CodeCarbon.

This is the only module that imports ``codecarbon`` (the optional extra
``greenmeter[codecarbon]``), and only when the option is given. CodeCarbon's
``OfflineEmissionsTracker`` runs inside greenmeter's process in its "process" tracking
mode (greenmeter's process and its children: the command), exactly as
``codecarbon monitor -- CMD`` tracks a command. It is started just before greenmeter's
first read and stopped just after its last, for the country of greenmeter's region, with
CodeCarbon's own defaults otherwise (its measurement interval included: the point is what
CodeCarbon would have said).

CodeCarbon applies the PUE to its energies; greenmeter gives it the run's PUE and divides
it back out, so both sides compare IT energy (greenmeter's ``energy_j``) and CO2e with
the PUE (``co2_g``). CodeCarbon's ``ram`` is greenmeter's ``dram``.
"""

from __future__ import annotations

import importlib.util

from greenmeter.carbon.regions import GridIntensity, country_of_zone
from greenmeter.quantities import J_PER_KWH
from greenmeter.results import COUNTED_KINDS

TOOLS = ("codecarbon",)
INSTALL_HINT = "pip install 'greenmeter[codecarbon]'"
_KINDS = (("cpu", "cpu_energy"), ("gpu", "gpu_energy"), ("dram", "ram_energy"))


def _stdout_to_stderr():
    """Standard output is the command's: what CodeCarbon (or a GPU library it probes, such
    as amdsmi without ROCm) prints goes to stderr instead."""
    import contextlib
    import sys

    return contextlib.redirect_stdout(sys.stderr)


class CrossCheckUnavailable(Exception):
    """The cross-check cannot run here; the message says why and how to fix it."""


def prepare(tool: str, grid: GridIntensity, pue: float) -> CodeCarbonCrossCheck:
    """Everything that can fail before launch: the package, and a country for it."""
    if tool not in TOOLS:
        raise CrossCheckUnavailable(
            f"unknown cross-check tool {tool!r} (known: {', '.join(TOOLS)})"
        )
    if importlib.util.find_spec("codecarbon") is None:  # finds it without importing it
        raise CrossCheckUnavailable(f"the codecarbon cross-check needs CodeCarbon: {INSTALL_HINT}")
    if grid.fallback:
        raise CrossCheckUnavailable(
            "the codecarbon cross-check needs --region: CodeCarbon's "
            "offline tracker has no world average"
        )
    country, _ = country_of_zone(grid.zone_id)
    if country is None:
        raise CrossCheckUnavailable(
            f"CodeCarbon's offline tracker needs a country; region "
            f"{grid.region!r} (zone {grid.zone_id}) is in none"
        )
    return CodeCarbonCrossCheck(country, pue)


class CodeCarbonCrossCheck:
    """Checked before launch; :meth:`start` gives one tracker per run (``--repeat``)."""

    def __init__(self, country_iso3: str, pue: float):
        self.country_iso3 = country_iso3
        self.pue = pue

    def start(self) -> TrackedRun:
        return TrackedRun(self)


class TrackedRun:
    """One CodeCarbon tracker around one run. Nothing here raises: a CodeCarbon failure
    is reported in the cross-check, never in the command's outcome."""

    def __init__(self, check: CodeCarbonCrossCheck):
        self.check = check
        self.error: str | None = None
        self._data = None
        self._version = None
        self._interval_s = None
        try:
            with _stdout_to_stderr():
                self._start(check)
        except Exception as exc:
            self._fail("start", exc)

    def _start(self, check: CodeCarbonCrossCheck) -> None:
        import logging
        import os

        # Its import (probing GPU libraries) and constructor log at INFO and WARNING before
        # they apply log_level; the import reads its level from the environment. Set for
        # the import only: the command, started later, gets greenmeter's environment as is.
        previous = os.environ.get("CODECARBON_LOG_LEVEL")
        os.environ["CODECARBON_LOG_LEVEL"] = "error"
        try:
            import codecarbon
            from codecarbon import OfflineEmissionsTracker
        finally:
            if previous is None:
                del os.environ["CODECARBON_LOG_LEVEL"]
            else:
                os.environ["CODECARBON_LOG_LEVEL"] = previous
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._version = codecarbon.__version__
        self._tracker = OfflineEmissionsTracker(
            country_iso_code=check.country_iso3,
            tracking_mode="process",
            save_to_file=False,
            log_level="error",
            pue=check.pue,
        )
        self._interval_s = getattr(self._tracker, "_measure_power_secs", None)
        self._tracker.start()

    def _fail(self, when: str, exc: Exception) -> None:
        self.error = f"CodeCarbon failed at {when}: {type(exc).__name__}: {exc}"
        self._tracker = None

    def stop(self) -> None:
        if self._tracker is None:
            return
        try:
            with _stdout_to_stderr():
                self._tracker.stop()
            self._data = self._tracker.final_emissions_data
            if self._data is None:
                raise RuntimeError("no emissions data")
        except Exception as exc:
            self._fail("stop", exc)

    def as_dict(self, energy_j: dict[str, float | None], co2_g: float) -> dict:
        """The report's ``cross_check`` object: CodeCarbon's figures and, per component,
        greenmeter minus CodeCarbon (``difference_pct`` relative to CodeCarbon)."""
        out: dict = {
            "tool": "codecarbon",
            "version": self._version,
            "mode": "offline, tracking_mode=process",
            "country_iso_code": self.check.country_iso3,
            "measure_power_secs": self._interval_s,
        }
        if self._data is None:
            return {**out, "error": self.error or "CodeCarbon was not run"}
        data, pue = self._data, self.check.pue
        theirs = {kind: float(getattr(data, field)) * J_PER_KWH / pue for kind, field in _KINDS}
        theirs["total"] = float(data.energy_consumed) * J_PER_KWH / pue
        their_co2_g = float(data.emissions) * 1000.0
        rows = [
            _difference(kind, energy_j.get(kind), theirs[kind], "j")
            for kind in (*COUNTED_KINDS, "total")
        ]
        rows.append(_difference("co2", co2_g, their_co2_g, "g"))
        return {
            **out,
            "duration_s": float(data.duration),
            "energy_j": theirs,
            "co2_g": their_co2_g,
            "intensity_g_per_kwh": (
                their_co2_g / (float(data.energy_consumed)) if data.energy_consumed else None
            ),
            "difference": rows,
        }


def _difference(kind: str, ours: float | None, theirs: float, unit: str) -> dict:
    diff = None if ours is None else ours - theirs
    return {
        "kind": kind,
        f"greenmeter_{unit}": ours,
        f"codecarbon_{unit}": theirs,
        f"difference_{unit}": diff,
        "difference_pct": None if diff is None or theirs == 0 else 100.0 * diff / theirs,
    }
