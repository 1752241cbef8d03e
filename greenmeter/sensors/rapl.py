"""CPU package and DRAM energy from the Linux powercap RAPL counters.

The kernel shows every RAPL zone as a flat entry of the powercap class
(``/sys/class/powercap/intel-rapl:0``, ``intel-rapl:0:1``, ``intel-rapl-mmio:0``, ...), a
symlink into ``/sys/devices/virtual/powercap/<control type>/...``. Each zone has ``name``,
``energy_uj`` (a counter of microjoules that wraps) and ``max_energy_range_uj`` (where it
wraps). The zone id gives the hierarchy: ``intel-rapl:0:1`` is inside ``intel-rapl:0``.
AMD Zen CPUs use the same driver (``intel_rapl_msr``) and the same tree, with a
``package-N`` zone and a ``core`` subzone and no ``dram``.

What is counted, so that nothing is added twice (see docs/rapl.md):

* ``package-N`` (and ``package-N-die-M``) zones: kind ``cpu``, summed.
* ``dram`` subzones: kind ``dram``, summed. A package's ``energy_uj`` does not include its
  ``dram`` subzone, so the two add up without overlap.
* ``core`` and ``uncore`` subzones are parts of their package: detail, never added.
* ``psys`` is the whole platform (packages, DRAM and more): detail, never added.
* The same domain through a second interface (``intel-rapl-mmio:0`` named ``package-0``
  next to ``intel-rapl:0`` named ``package-0``) is one counter read twice: the MSR zone
  is counted and the other is kept as detail, so a reader of the report sees both agree.
* Mirrored dies: on some multi-die CPUs every die's zone reads the same socket-wide
  counter (CodeCarbon issue #1274: a Threadripper reporting 68 W + 68 W = 137 W). Zones
  of one kind whose counters read the same value at the same instant are one counter;
  the first is counted, the others are detail (see :func:`_is_mirror`).

Wraparound: a counter that reads lower than before has wrapped once, and
``max_energy_range_uj`` is added. Reads must therefore come before it can wrap twice:
:meth:`RaplSensor.max_interval_s` tells the sampler how often that is.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from greenmeter.sensors.base import MEASURED, Component, Sensor, SensorUnavailable

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"
SOURCE = "rapl"

SAFETY_FACTOR = 4.0
"""Reads come at most every ``max_energy_range / (SAFETY_FACTOR x power)`` seconds, so a
counter could wrap twice between two reads only if the power jumped fourfold above the
highest recently seen."""
DEFAULT_POWER_W = 500.0
"""Assumed per-zone power until reads have shown the real one: above the TDP of any
single socket sold today, so the first intervals err on the short side."""
POWER_HISTORY = 16
"""How many recent power figures (each over at least ``MIN_POWER_WINDOW_S``) the safe
interval is planned from; the highest wins."""
MIN_POWER_WINDOW_S = 0.05
"""Reads closer than this still count their energy but say nothing about power: the
hardware updates its counters about once a millisecond, so two reads a few ms apart can
show 0 W (and the next gap would be planned for an idle zone) or twice the real power."""
MIN_INTERVAL_S = 0.01
"""Floor for the safe interval, so a tiny or absurd range cannot make the sampler spin."""
MIRROR_SLACK_UJ = 100_000
"""Two zones are one mirrored counter if one reads within 0.1 J of the other at the same
instant. One counter read twice agrees to within one hardware update (about 1 ms of
power); independent sockets, whose counters run from 0 to about 262 kJ at different
rates, agree this closely by chance about once in a million opens."""
MIRROR_DIVERGENCE = 0.05
"""A zone taken for a mirror whose energy over the run differs from its original's by more
than this share (and more than 1 J) gets a warning in the report: the call was wrong."""

_ZONE_ID = re.compile(r"^(?P<control>intel-rapl[a-z-]*):(?P<path>\d+(?::\d+)*)$")
_PACKAGE = re.compile(r"^package-(?P<package>\d+)(?:-die-(?P<die>\d+))?$")
_SUBZONE_KINDS = frozenset({"dram", "core", "uncore"})
PREFERRED_CONTROL = "intel-rapl"
"""The MSR interface: present on every RAPL machine and the one that has the subzones;
``intel-rapl-mmio`` (client CPUs, for thermald) shows the same package counter again."""

PERMISSION_FIX = (
    "energy_uj is root-only since Linux 5.10 (CVE-2020-8694, the Platypus power side "
    "channel). Give a dedicated group read access with a udev rule or systemd-tmpfiles and "
    "add yourself to it (exact recipe: docs/rapl.md, 'Reading RAPL without root'). Never "
    "'chmod a+r' the files: that re-opens the side channel to every user."
)
NO_ZONES_FIX = (
    "load the RAPL driver ('sudo modprobe intel_rapl_msr'; AMD Zen CPUs use the same "
    "driver). Virtual machines and containers without /sys/class/powercap have no RAPL; "
    "set GREENMETER_POWERCAP_ROOT if the tree is mounted elsewhere."
)


def powercap_root() -> str:
    """Where RAPL zones are looked for: ``GREENMETER_POWERCAP_ROOT`` (a fake tree in tests,
    the host's tree bind-mounted elsewhere in a container) or the kernel's place."""
    return os.environ.get("GREENMETER_POWERCAP_ROOT") or DEFAULT_POWERCAP_ROOT


class NoRaplZones(SensorUnavailable):
    """No RAPL zone at all: normal on VMs, in containers without /sys, and off x86."""


@dataclass
class Zone:
    """One powercap zone as discovered, and what it counts as."""

    zone_id: str
    control: str
    path: Path
    name: str | None
    kind: str | None
    """``cpu``, ``dram``, ``core``, ``uncore``, ``psys``; None for a domain we do not use."""
    package: int | None
    counted: bool = False
    usable: bool = False
    """Readable ``energy_uj`` with an integer, and a valid ``max_energy_range_uj``."""
    problem: str | None = None
    permission_denied: bool = False
    energy_uj: int | None = None
    max_energy_range_uj: int | None = None
    note: str = ""
    """Why the zone counts as it does, in a few words for ``greenmeter doctor``."""
    depth: int = 0
    parent_name: str | None = None
    mirror_of: str | None = None
    """For a mirrored die: the zone id of the counted zone it mirrors."""

    @property
    def component_name(self) -> str:
        name = self.name or self.zone_id
        if self.depth and self.parent_name:
            name = f"{self.parent_name}/{name}"
        if self.control != PREFERRED_CONTROL:
            name = f"{name} [{self.control}]"
        return name

    def as_dict(self) -> dict:
        return {
            "zone": self.zone_id,
            "path": str(self.path),
            "name": self.name,
            "kind": self.kind,
            "package": self.package,
            "counted": self.counted,
            "readable": self.usable,
            "problem": self.problem,
            "energy_uj": self.energy_uj,
            "max_energy_range_uj": self.max_energy_range_uj,
            "note": self.note,
        }


def _read_int(path: Path) -> int:
    """The integer a sysfs attribute holds. OSError if unreadable, ValueError if garbage."""
    with open(path, "rb") as f:
        text = f.read(64)
    value = int(text.decode("ascii").strip())
    if value < 0:
        raise ValueError(f"negative value {value}")
    return value


def _read_name(path: Path) -> str | None:
    try:
        with open(path / "name", "rb") as f:
            return f.read(64).decode("ascii", "replace").strip() or None
    except OSError:
        return None


def _sort_key(zone_id: str) -> tuple:
    match = _ZONE_ID.match(zone_id)
    assert match is not None
    return (
        match["control"] != PREFERRED_CONTROL,
        match["control"],
        tuple(int(part) for part in match["path"].split(":")),
    )


def discover_zones(root: str | os.PathLike) -> list[Zone]:
    """Every RAPL zone under ``root`` (a powercap class directory), classified.

    Reads each zone's ``energy_uj`` once, to learn whether it is readable; nothing is
    opened or kept. The result decides which zones are counted (see the module doc)."""
    root = Path(root)
    try:
        entries = sorted((e for e in os.listdir(root) if _ZONE_ID.match(e)), key=_sort_key)
    except OSError:
        return []
    zones: dict[str, Zone] = {}
    for zone_id in entries:
        match = _ZONE_ID.match(zone_id)
        assert match is not None
        parts = match["path"].split(":")
        path = root / zone_id
        if not path.is_dir():
            continue
        parent_id = f"{match['control']}:{':'.join(parts[:-1])}" if len(parts) > 1 else None
        parent = zones.get(parent_id) if parent_id else None
        name = _read_name(path)
        zones[zone_id] = zone = Zone(
            zone_id=zone_id,
            control=match["control"],
            path=path,
            name=name,
            kind=None,
            package=None,
            depth=len(parts) - 1,
            parent_name=parent.name if parent else None,
        )
        _classify(zone, parent)
        _probe(zone)
    ordered = list(zones.values())
    _choose_counted(ordered)
    return ordered


def _classify(zone: Zone, parent: Zone | None) -> None:
    name = zone.name or ""
    package = _PACKAGE.match(name)
    if zone.depth == 0 and package:
        zone.kind, zone.package = "cpu", int(package["package"])
    elif zone.depth == 0 and name == "psys":
        zone.kind = "psys"
        zone.note = "whole platform, includes the packages and DRAM: not added"
    elif zone.depth > 0 and name in _SUBZONE_KINDS:
        zone.kind = name
        zone.package = parent.package if parent else None
        if zone.kind != "dram":
            zone.note = f"inside {zone.parent_name or 'its package'}: not added"
    else:
        zone.note = "unknown domain: not used"


def _probe(zone: Zone) -> None:
    try:
        zone.energy_uj = _read_int(zone.path / "energy_uj")
    except PermissionError:
        zone.permission_denied = True
        zone.problem = "energy_uj not readable (permission denied)"
        return
    except FileNotFoundError:
        zone.problem = "no energy_uj file"
        return
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        zone.problem = f"energy_uj unreadable ({_why(exc)})"
        return
    # Without the range a wrap cannot be undone: the energy lost at the wrap is unknown.
    # Such a counter is no measurement; the rule is to skip the zone (and its kind).
    try:
        zone.max_energy_range_uj = _read_int(zone.path / "max_energy_range_uj")
    except FileNotFoundError:
        zone.problem = "no max_energy_range_uj: a wrap could not be undone"
        return
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        zone.problem = f"max_energy_range_uj unreadable ({_why(exc)}): a wrap could not be undone"
        return
    if zone.max_energy_range_uj == 0:
        zone.problem = "max_energy_range_uj is 0: a wrap could not be undone"
        return
    zone.usable = True


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, (ValueError, UnicodeDecodeError)):
        return "not a non-negative integer"
    return str(exc)


def _choose_counted(zones: list[Zone]) -> None:
    """Mark the zones that are summed: one per physical domain of kind cpu or dram."""
    # The same domain through two interfaces: keyed by package name and subzone name.
    primaries: dict[tuple, Zone] = {}
    for zone in zones:
        if zone.kind not in ("cpu", "dram"):
            continue
        key = (zone.parent_name if zone.depth else zone.name, zone.name if zone.depth else None)
        first = primaries.get(key)
        if first is not None and first.control == zone.control:
            # Two zones of one interface with one name (some multi-die kernels name every
            # die package-0): not a second interface; the mirror check below decides.
            key, first = (*key, zone.zone_id), None
        if first is None or (not first.usable and zone.usable):
            if first is not None:
                _second_interface(first, zone)
            primaries[key] = zone
        else:
            _second_interface(zone, first)
    for zone in primaries.values():
        zone.counted = True
        if not zone.note:
            zone.note = (
                "counted" if zone.kind == "cpu" else "counted (outside its package's figure)"
            )
    for kind in ("cpu", "dram"):
        counted = [z for z in primaries.values() if z.kind == kind and z.usable]
        for i, zone in enumerate(counted):
            for original in counted[:i]:
                if original.counted and _is_mirror(original, zone):
                    zone.counted = False
                    zone.note = f"mirrored die, same counter as {original.zone_id}: not added"
                    zone.mirror_of = original.zone_id
                    break


def _second_interface(duplicate: Zone, primary: Zone) -> None:
    duplicate.counted = False
    duplicate.note = f"same counter as {primary.zone_id} (second interface): not added"


def _is_mirror(a: Zone, b: Zone) -> bool:
    """Whether ``b`` reads the same counter as ``a``: read a, b, a; one counter read
    between two reads of itself lies between them. Zero counters are never called
    mirrors (a disabled domain reads 0 and is distinct, however many there are)."""
    if not a.energy_uj or not b.energy_uj or a.max_energy_range_uj != b.max_energy_range_uj:
        return False
    try:
        a1 = _read_int(a.path / "energy_uj")
        b1 = _read_int(b.path / "energy_uj")
        a2 = _read_int(a.path / "energy_uj")
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if a2 < a1 or b1 == 0:  # wrapped in between: undecidable, assume distinct
        return False
    return a1 - MIRROR_SLACK_UJ <= b1 <= a2 + MIRROR_SLACK_UJ


@dataclass
class _Counter:
    """Unwrapping state of one zone's counter."""

    zone: Zone
    last_uj: int
    range_uj: int
    total_uj: int = 0
    wraps: int = 0
    failed_reads: int = 0
    window_s: float = 0.0
    """Start of the interval the next power figure will cover."""
    window_uj: int = 0
    recent_power_w: deque = field(default_factory=lambda: deque(maxlen=POWER_HISTORY))

    def advance(self, raw_uj: int, now: float) -> None:
        if raw_uj >= self.last_uj:
            delta = raw_uj - self.last_uj
        else:
            # Wrapped once: the part up to the top of the range, then from 0 to raw_uj.
            delta = raw_uj + self.range_uj - self.last_uj
            self.wraps += 1
        self.total_uj += delta
        self.last_uj = raw_uj
        if now - self.window_s >= MIN_POWER_WINDOW_S:
            power_w = (self.total_uj - self.window_uj) / 1e6 / (now - self.window_s)
            self.recent_power_w.append(power_w)
            self.window_uj, self.window_s = self.total_uj, now


class RaplSensor(Sensor):
    """Cumulative energy of the usable RAPL zones (counted and detail)."""

    def __init__(
        self, zones: list[Zone], unavailable: dict[str, SensorUnavailable], clock=time.monotonic
    ):
        self.zones = zones
        self.unavailable = unavailable
        """Kinds RAPL shows but cannot measure here (say dram unreadable while packages
        are fine), with reason and fix, for :class:`~greenmeter.sensors.base.SensorSet`."""
        self._clock = clock
        self.components = tuple(
            Component(
                kind=z.kind,
                name=z.component_name,
                source=SOURCE,
                method=MEASURED,
                index=z.package,
                counted=z.counted,
            )
            for z in zones
        )
        now = clock()
        self._counters = [
            _Counter(
                zone=z, last_uj=z.energy_uj or 0, range_uj=z.max_energy_range_uj or 0, window_s=now
            )
            for z in zones
        ]
        # Start from a fresh read: discovery may have been a while ago.
        self.read_energy_j()
        now = clock()
        for counter in self._counters:
            counter.total_uj = counter.window_uj = counter.wraps = 0
            counter.window_s = now
            counter.recent_power_w.clear()

    def read_energy_j(self) -> list[float | None]:
        out: list[float | None] = []
        for counter in self._counters:
            try:
                raw = _read_int(counter.zone.path / "energy_uj")
            except (OSError, ValueError, UnicodeDecodeError):
                # Counted energy is not lost: the next good read covers the gap.
                counter.failed_reads += 1
                out.append(None)
                continue
            counter.advance(raw, self._clock())
            out.append(counter.total_uj / 1e6)
        return out

    def max_interval_s(self) -> float | None:
        limits = []
        for counter in self._counters:
            power_w = max(counter.recent_power_w, default=DEFAULT_POWER_W)
            power_w = max(power_w, 1.0)  # an idle or stuck counter must not mean "never"
            limits.append(counter.range_uj / 1e6 / (SAFETY_FACTOR * power_w))
        return max(MIN_INTERVAL_S, min(limits)) if limits else None

    def details(self) -> list[dict]:
        return [
            {
                "zone": c.zone.zone_id,
                "max_energy_range_uj": c.range_uj,
                "wraps": c.wraps,
                "note": c.zone.note,
            }
            for c in self._counters
        ]

    def warnings(self) -> list[str]:
        out = []
        by_zone = {c.zone.zone_id: c for c in self._counters}
        for counter in self._counters:
            original = counter.zone.mirror_of
            if original is None or original not in by_zone:
                continue
            mine_j = counter.total_uj / 1e6
            theirs_j = by_zone[original].total_uj / 1e6
            if abs(mine_j - theirs_j) > max(1.0, MIRROR_DIVERGENCE * abs(theirs_j)):
                out.append(
                    f"RAPL zone {counter.zone.zone_id} was taken for a mirror of "
                    f"{original} but measured {mine_j:.1f} J against {theirs_j:.1f} J: "
                    f"CPU energy may be under-counted by up to {mine_j:.1f} J"
                )
        for counter in self._counters:
            if counter.failed_reads:
                out.append(
                    f"RAPL zone {counter.zone.zone_id}: {counter.failed_reads} failed "
                    f"read(s); the next good read covered the gap"
                )
        return out


def select_zones(
    zones: list[Zone], root: str | os.PathLike
) -> tuple[list[Zone], dict[str, SensorUnavailable]]:
    """The zones to read (counted and detail) and, per kind RAPL shows but cannot measure,
    why. Raises :class:`SensorUnavailable` when nothing of kind cpu or dram is measurable
    (:class:`NoRaplZones` when there is no zone at all)."""
    if not zones:
        raise NoRaplZones(f"no RAPL powercap zones under {root}", NO_ZONES_FIX)
    broken: dict[str, list[Zone]] = {}
    measured: list[Zone] = []
    for kind in ("cpu", "dram"):
        counted = [z for z in zones if z.kind == kind and z.counted]
        if any(not z.usable for z in counted):
            # A sum that misses one socket is an under-count presented as a measurement:
            # the kind goes to the estimate instead, with the reason.
            broken[kind] = [z for z in counted if not z.usable]
        else:
            measured.extend(z for z in zones if z.kind == kind and z.usable)
    if not measured:
        if broken:
            raise _unavailable(broken)
        raise NoRaplZones(
            f"no RAPL package or DRAM zone under {root} "
            f"(found: {', '.join(f'{z.zone_id} {z.name}' for z in zones)})",
            NO_ZONES_FIX,
        )
    measured.extend(z for z in zones if z.usable and z.kind in ("core", "uncore", "psys"))
    measured.sort(key=zones.index)
    return measured, {kind: _unavailable({kind: zs}) for kind, zs in broken.items()}


def open_rapl(root: str | os.PathLike = DEFAULT_POWERCAP_ROOT) -> RaplSensor:
    """A sensor for every usable RAPL zone under ``root``.

    Raises :class:`SensorUnavailable` when no zone exists or no package/DRAM zone can be
    read; ``fix`` then says how to get there (safely, for permissions)."""
    measured, unavailable = select_zones(discover_zones(root), root)
    return RaplSensor(measured, unavailable)


def _unavailable(broken: dict[str, list[Zone]]) -> SensorUnavailable:
    by_problem: dict[str, list[str]] = {}
    for zone in (z for zs in broken.values() for z in zs):
        by_problem.setdefault(zone.problem or "unusable", []).append(zone.zone_id)
    listing = "; ".join(f"{', '.join(ids)}: {problem}" for problem, ids in by_problem.items())
    reason = f"cannot measure {' and '.join(broken)} ({listing}); estimated instead."
    if any(z.permission_denied for zs in broken.values() for z in zs):
        return SensorUnavailable(reason, PERMISSION_FIX)
    return SensorUnavailable(
        reason,
        "the zone's files are missing or malformed: check the "
        "kernel's RAPL driver (see docs/rapl.md)",
    )
