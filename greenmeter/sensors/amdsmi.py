"""AMD GPUs through AMD SMI (ROCm's ``libamd_smi.so`` and its ``amdsmi`` Python bindings).

Energy comes from ``amdsmi_get_energy_count``: a 64-bit accumulator of ticks of
``counter_resolution`` microjoules (15.3 uJ on MI200 and MI300). The difference between
the reads at the command's exact start and end is the figure, as for NVML's counter. A
decrease between two reads is a wrap of a 32-bit accumulator when the energy it implies
is plausible, and otherwise a reset (GPU reset, driver reload): the energy after the
reset is counted from zero and the report says so. Where the counter is not supported,
sampled power (``amdsmi_get_power_info``: the current socket power on MI300, the
average on MI200, whole watts) is integrated with the trapezoid rule at 10 Hz.

Which GPUs: by default those the command can use, read from its ``ROCR_VISIBLE_DEVICES``
and then ``HIP_VISIBLE_DEVICES`` (or, when that is unset or empty, ``CUDA_VISIBLE_DEVICES``)
exactly as the ROCm runtime and HIP read them; ``--gpus`` overrides.

One physical GPU is measured once, however many logical GPUs it shows: the compute
partitions of an MI300X are processor handles with the same PCIe bus and device (the
function carries the partition), and their energy is the whole device's, read on the
primary partition; the second die of an MI250X reads 0 W, its power being reported by
the first die's, so it is measured through the first.

The bindings bind every symbol of the library at import and, when the library is
missing, print to stdout before failing: they are imported only after the library
loads, with stdout redirected at the file-descriptor level, so not a word of theirs
reaches the command's stdout, and a machine without ROCm pays for one ``dlopen`` only.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from greenmeter.sensors.base import Sensor, SensorUnavailable
from greenmeter.sensors.gpu_power import PowerIntegral, counter_disagreement
from greenmeter.sensors.gpu_selection import (
    GpuSelectionError,
    NoGpuHere,
    is_bare_uuid,
    parse_gpu_selection,
)
from greenmeter.sensors.gpu_sensor import GpuSensor, disagreement_warning, shared_warning
from greenmeter.sensors.process_tree import ProcessTree
from greenmeter.sensors.stdout_guard import stdout_captured

POLL_INTERVAL_S = 0.1
"""Power poll for GPUs without an energy counter, as for NVML."""
COUNTER_MAX_INTERVAL_S = 10.0
"""A 32-bit accumulator of 15.3 uJ ticks wraps after 66 kJ, 87 s at 750 W: reads this
often never miss a wrap."""
EXTRAS_INTERVAL_S = 0.5
"""Utilisation and memory are read at most this often (each is a sysfs read on ROCm);
between two readings the gauges hold the last one."""
GPU_GAUGES = ("gpu_util_pct", "gpu_memory_used_mib", "gpu_power_capped", "gpu_thermal")
"""The gauges an AMD GPU fills (it has no "idle clocks" reason like NVML's)."""
VIOLATION_ACCUMULATORS = {
    "gpu_power_capped": "ppt_residency_acc",
    "gpu_thermal": "socket_thm_residency_acc",
}
"""gpu_metrics' firmware samples in violation (PVIOL, TVIOL on MI300 and newer) beside its
sample count ``accumulation_counter``: the share of a span held down is their increase
over the count's. ``amdsmi_get_violation_status`` returns the same accumulators but waits
100 ms inside the library on every call (it reads gpu_metrics twice), which the sampler's
thread cannot afford."""
NOT_AVAILABLE_64 = 2**64 - 1
MAX_PLAUSIBLE_POWER_W = 3000.0
"""A decrease of the accumulator that would mean more than this is a reset, not a wrap."""
WRAP_32 = 2**32
NOT_AVAILABLE = 0xFFFF
"""What amdsmi reports for a figure the GPU does not have (the bindings say "N/A")."""
POWER_FIELDS = ("current_socket_power", "average_socket_power", "socket_power")
"""Instantaneous power where the GPU has it (MI300), else the average (MI200)."""
DUAL_DIE_MODELS = ("MI250",)
"""Packages whose second die reports 0 W, its power included in the first's."""
LIBRARY = "libamd_smi.so"


@dataclass(eq=False)
class _Logical:
    """One processor handle: a GPU as HIP numbers it (a partition, a die, or a whole GPU)."""

    index: int
    handle: object
    uuid: str | None = None
    hip_uuid: str | None = None
    hip_id: int | None = None
    bdf: str | None = None
    partition: int = 0
    name: str = "AMD GPU"
    error: str | None = None

    @property
    def device_key(self) -> str:
        """The physical device: PCIe domain, bus and device, whatever the partition."""
        return self.bdf.rsplit(".", 1)[0] if self.bdf else f"index {self.index}"


def open_amdsmi(
    selection: str | None,
    environ: Mapping[str, str],
    tree: ProcessTree,
    *,
    unmatched: dict[str, str] | None = None,
) -> Sensor:
    """Open the AMD GPUs to measure.

    ``selection`` is a ``--gpus`` value or None for the GPUs the command's
    ``ROCR_VISIBLE_DEVICES``, ``HIP_VISIBLE_DEVICES`` and ``CUDA_VISIBLE_DEVICES`` (read
    from ``environ``) let it use. Entries of ``--gpus`` that match no AMD GPU are recorded
    in ``unmatched`` (entry -> why) when it is given, and refused otherwise.

    Raises :class:`NoGpuHere` where there is nothing to measure (no ROCm, no GPU, all
    hidden), :class:`SensorUnavailable` where ROCm is here but broken.
    """
    if selection is not None:
        try:
            selection = parse_gpu_selection(selection)
        except ValueError as exc:
            raise GpuSelectionError(str(exc)) from None
    if selection == "none":
        raise NoGpuHere("GPU measurement is turned off (--gpus none)")
    amdsmi = _start_amdsmi()
    try:
        return _open_gpus(amdsmi, selection, environ, tree, unmatched)
    except amdsmi.AmdSmiException as exc:
        _stop_amdsmi(amdsmi)
        raise SensorUnavailable(
            f"AMD SMI failed while opening the GPUs: {_said(exc)}", "check that amd-smi works"
        ) from None
    except BaseException:
        _stop_amdsmi(amdsmi)
        raise


def _open_gpus(amdsmi, selection, environ, tree, unmatched) -> AmdSmiSensor:
    logical = _enumerate(amdsmi)
    if not logical:
        raise NoGpuHere("AMD SMI sees no GPU", "check that amd-smi lists the GPU on this machine")
    if selection == "all":
        picked = list(logical)
    elif selection is not None:
        picked = _from_gpus_option(selection, logical, unmatched)
        if not picked:
            raise NoGpuHere(f"--gpus {selection} names no AMD GPU")
    else:
        picked, hidden_by = _from_rocm_visible_devices(environ, logical)
        if not picked:
            raise NoGpuHere(
                f"{hidden_by} hides every AMD GPU from the command",
                "pass --gpus all to measure the GPUs anyway",
            )
    notes: list[str] = []
    devices = []
    for group in _physical_devices(amdsmi, logical, picked):
        primary = group[0]
        if primary.error is not None:
            notes.append(f"GPU {primary.index}: AMD SMI cannot read it ({primary.error}).")
            continue
        device = _Device.open(amdsmi, group, [g for g in group if g in picked])
        if device.has_counter or device.power_field is not None:
            devices.append(device)
        else:
            notes.append(
                f"GPU {primary.index} ({primary.name}) reports neither an energy counter "
                "nor power draw; it is not measured."
            )
    if not devices:
        raise SensorUnavailable(
            "no selected AMD GPU reports energy or power through AMD SMI",
            "see `greenmeter doctor` for what each GPU supports",
        )
    return AmdSmiSensor(amdsmi, devices, tree, notes)


def _enumerate(amdsmi) -> list[_Logical]:
    """Every processor handle, with what identifies it; one that cannot be read keeps
    its error and costs only itself."""
    found = []
    for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
        gpu = _Logical(index, handle)
        try:
            gpu.uuid = amdsmi.amdsmi_get_gpu_device_uuid(handle)
            gpu.bdf = amdsmi.amdsmi_get_gpu_device_bdf(handle)
            gpu.name = _name(amdsmi, handle)
        except amdsmi.AmdSmiException as exc:
            gpu.error = _said(exc)
        with contextlib.suppress(amdsmi.AmdSmiException, AttributeError):
            # ROCm 6.4 and newer: the HIP index and the UUID that HIP and ROCr match.
            info = amdsmi.amdsmi_get_gpu_enumeration_info(handle)
            gpu.hip_id = info["hip_id"] if isinstance(info["hip_id"], int) else None
            gpu.hip_uuid = info["hip_uuid"] or None
        gpu.partition = _partition_id(amdsmi, handle, gpu.bdf)
        found.append(gpu)
    return found


def _name(amdsmi, handle) -> str:
    name = amdsmi.amdsmi_get_gpu_asic_info(handle).get("market_name")
    return name if name and name != "N/A" else "AMD GPU"


def _partition_id(amdsmi, handle, bdf: str | None) -> int:
    try:
        partition = amdsmi.amdsmi_get_gpu_kfd_info(handle)["current_partition_id"]
        if isinstance(partition, int):
            return partition
    except (amdsmi.AmdSmiException, AttributeError, KeyError):
        pass  # older bindings: no kfd info, or no partition in it
    # Older drivers put the partition in the PCIe function number.
    return int(bdf.rsplit(".", 1)[1], 16) if bdf and "." in bdf else 0


def _physical_devices(amdsmi, logical: list[_Logical], picked: list[_Logical]) -> list[list]:
    """The physical devices the picked logical GPUs belong to, each as all its logical
    GPUs, the one that reads the device's energy first, in the order of first pick."""
    by_key: dict[str, list[_Logical]] = {}
    for gpu in logical:
        by_key.setdefault(gpu.device_key, []).append(gpu)
    key_of = {gpu.index: gpu.device_key for gpu in logical}
    # An MI250X die reading 0 W belongs to the die before it, which reports for both.
    for gpu in logical:
        if gpu.index == 0 or not any(model in gpu.name for model in DUAL_DIE_MODELS):
            continue
        before = logical[gpu.index - 1]
        if before.name == gpu.name and _reads_zero_power(amdsmi, gpu):
            key = key_of[gpu.index]
            if key != key_of[before.index] and len(by_key.get(key, [])) == 1:
                by_key[key_of[before.index]].append(gpu)
                del by_key[key]
                key_of[gpu.index] = key_of[before.index]
    groups: dict[str, list[_Logical]] = {}
    for gpu in picked:
        key = key_of[gpu.index]
        if key not in groups:
            members = by_key[key]
            primary = min(members, key=lambda g: (g.error is not None, g.partition, g.index))
            groups[key] = [primary, *(g for g in members if g is not primary)]
    return list(groups.values())


def _reads_zero_power(amdsmi, gpu: _Logical) -> bool:
    try:
        return _power_w(amdsmi.amdsmi_get_power_info(gpu.handle)) == 0
    except amdsmi.AmdSmiException:
        return False


def _power_w(info: dict, field_name: str | None = None) -> float | None:
    """Watts from ``amdsmi_get_power_info``: ``field_name`` or the first field it has."""
    for name in (field_name,) if field_name else POWER_FIELDS:
        value = info.get(name)
        if isinstance(value, int) and value < NOT_AVAILABLE:
            return float(value)
    return None


# --- which GPUs the command may use ---------------------------------------------------


def _from_rocm_visible_devices(
    environ: Mapping[str, str], logical: list[_Logical]
) -> tuple[list[_Logical], str | None]:
    """The logical GPUs the command's environment lets it use, in HIP's order, and the
    variable that hid them when none is left.

    ROCr applies ``ROCR_VISIBLE_DEVICES`` first; HIP then applies ``HIP_VISIBLE_DEVICES``,
    or ``CUDA_VISIBLE_DEVICES`` when that is unset or empty, to what ROCr left: HIP's
    indexes count the GPUs ROCr shows."""
    agents = sorted(logical, key=lambda g: (g.hip_id is None, g.hip_id, g.index))
    rocr = environ.get("ROCR_VISIBLE_DEVICES")
    if rocr is not None:
        agents = _rocr_filter(rocr, agents)
        if not agents:
            return [], f"ROCR_VISIBLE_DEVICES={rocr!r}"
    for name in ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"):
        value = environ.get(name)
        if value:  # HIP reads an empty value as unset, so CUDA_VISIBLE_DEVICES="" hides nothing
            agents = _hip_filter(value, agents)
            return agents, f"{name}={value!r}"
    return agents, None


def _rocr_filter(value: str, agents: list[_Logical]) -> list[_Logical]:
    """ROCr's rules: set but empty shows no GPU; each entry is an index or a unique
    prefix of a ``GPU-`` UUID; the list ends at the first entry that names no GPU or
    names one again."""
    picked: list[_Logical] = []
    for token in [t.strip().upper() for t in value.split(",")][: len(agents)]:
        if token.startswith("G"):
            matches = [
                a
                for a in agents
                if a.hip_uuid and 5 <= len(token) <= 20 and a.hip_uuid.upper().startswith(token)
            ]
            if len(matches) != 1:
                break
            agent = matches[0]
        else:
            try:
                position = int(token, 0)
            except ValueError:
                break
            if not 0 <= position < len(agents):
                break
            agent = agents[position]
        if agent in picked:
            break
        picked.append(agent)
    return picked


def _hip_filter(value: str, agents: list[_Logical]) -> list[_Logical]:
    """HIP's rules: each entry is an index into the GPUs ROCr shows, or part of a
    ``GPU-`` UUID; the list ends at the first entry that names no GPU; repeats are
    skipped."""
    picked: list[_Logical] = []
    for token in value.split(","):
        if "GPU-" in token:
            token = next(
                (str(i) for i, a in enumerate(agents) if a.hip_uuid and token in a.hip_uuid),
                token,
            )
        if not (token.isdigit() and str(int(token)) == token and int(token) < len(agents)):
            break
        agent = agents[int(token)]
        if agent not in picked:
            picked.append(agent)
    return picked


def _from_gpus_option(
    selection: str, logical: list[_Logical], unmatched: dict[str, str] | None
) -> list[_Logical]:
    picked: list[_Logical] = []
    for token in selection.split(","):
        resolved = _resolve(token, logical)
        if isinstance(resolved, str):
            if unmatched is None:
                raise GpuSelectionError(f"{token}: {resolved}")
            unmatched[token] = resolved
            continue
        if resolved not in picked:
            picked.append(resolved)
    return picked


def _resolve(token: str, logical: list[_Logical]) -> _Logical | str:
    """The logical GPU a ``--gpus`` entry names (an amd-smi index, a ``GPU-`` UUID as
    HIP and ROCr show it, or amd-smi's UUID), or why it names none."""
    if token.isdigit():
        if int(token) < len(logical):
            return logical[int(token)]
        return f"no such GPU (AMD SMI sees {len(logical)}: 0-{len(logical) - 1})"
    if token.startswith("GPU-") or is_bare_uuid(token):
        wanted = token.lower()
        bare = wanted.removeprefix("gpu-")
        matches = [
            g
            for g in logical
            if (g.hip_uuid and g.hip_uuid.lower().startswith(wanted))
            or (g.uuid and g.uuid.lower().startswith(bare))
        ]
        if len(matches) == 1:
            return matches[0]
        return "no GPU has this UUID" if not matches else "UUID prefix matches several GPUs"
    return "not an AMD GPU index or UUID"


# --- reading ----------------------------------------------------------------------------


class AmdSmiSensor(GpuSensor):
    """One component per physical AMD GPU the command may use, all read together."""

    def __init__(self, amdsmi, devices: list[_Device], tree: ProcessTree, notes: list[str]):
        super().__init__(
            amdsmi,
            devices,
            tree,
            notes,
            sources=("amdsmi-energy", "amdsmi-power"),
            gauges=GPU_GAUGES,
        )

    def max_interval_s(self) -> float | None:
        if all(device.has_counter for device in self._devices):
            return COUNTER_MAX_INTERVAL_S
        return POLL_INTERVAL_S

    def close(self) -> None:
        _stop_amdsmi(self._library)


@dataclass(eq=False)
class _Device:
    """One physical GPU: the logical GPU that reads its energy first, then the others."""

    logical: list[_Logical]
    used: list[_Logical]
    """The logical GPUs of this device the command may use."""
    has_counter: bool
    power_field: str | None
    compute_partition: str | None = None
    last_ticks: int | None = None
    total_ticks: int = 0
    resolution_uj: float = 0.0
    wraps: int = 0
    resets: int = 0
    first_read_s: float | None = None
    last_good_read_s: float | None = None
    power: PowerIntegral = field(default_factory=PowerIntegral)
    next_extras_s: float = 0.0
    last_gauge_read_s: float | None = None
    utilization_sum_pct: float = 0.0
    utilization_samples: int = 0
    utilization_pct: float = 0.0
    """The latest reading, held until the next one."""
    has_utilization: bool = True
    peak_memory_used_mib: float | None = None
    memory_used_mib: float = 0.0
    memory_total_mib: float | None = None
    has_memory: bool = True
    has_throttle: bool = True
    last_violations: dict[str, int] | None = None
    """The accumulators at the last reading, ``accumulation_counter`` among them."""
    throttled_share: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(VIOLATION_ACCUMULATORS, 0.0)
    )
    util_pct_s: float = 0.0
    """Running integrals of the gauges (``read_activity``): % x s, MiB x s, seconds."""
    memory_mib_s: float = 0.0
    throttled_s: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(VIOLATION_ACCUMULATORS, 0.0)
    )
    has_process_list: bool = True
    shared_checked: bool = False
    other_pids: set[int] = field(default_factory=set)
    error: str | None = None

    @classmethod
    def open(cls, amdsmi, logical: list[_Logical], used: list[_Logical]) -> _Device:
        handle = logical[0].handle
        try:
            resolution = amdsmi.amdsmi_get_energy_count(handle)["counter_resolution"]
            has_counter = resolution > 0
        except amdsmi.AmdSmiException:
            has_counter = False
        power_field = None
        with contextlib.suppress(amdsmi.AmdSmiException):
            info = amdsmi.amdsmi_get_power_info(handle)
            power_field = next((f for f in POWER_FIELDS if _power_w(info, f) is not None), None)
        partition = None
        if len({g.device_key for g in logical}) == 1 < len(logical):  # partitions, not dies
            with contextlib.suppress(amdsmi.AmdSmiException, AttributeError):
                partition = amdsmi.amdsmi_get_gpu_compute_partition(handle) or None
        return cls(logical, used, has_counter, power_field, partition)

    @property
    def index(self) -> int:
        return self.logical[0].index

    @property
    def name(self) -> str:
        return self.logical[0].name

    @property
    def dies(self) -> bool:
        """The logical GPUs are the dies of one package, not partitions of one die."""
        return len({g.device_key for g in self.logical}) > 1

    def read(self, amdsmi) -> float | None:
        """Joules since the first read, or None once AMD SMI has failed on this GPU."""
        if self.error is not None:
            return None
        handle = self.logical[0].handle
        try:
            if self.has_counter:
                counter = amdsmi.amdsmi_get_energy_count(handle)
            if self.power_field is not None:
                before = time.monotonic()
                power_w = _power_w(amdsmi.amdsmi_get_power_info(handle), self.power_field)
                if power_w is not None:
                    # The sample belongs to the middle of the call, not to either end.
                    self.power.add((before + time.monotonic()) / 2, power_w)
        except Exception as exc:  # GPU lost, reset, any AMD SMI error: never stop the run
            self.error = f"{type(exc).__name__}: {_said(exc)}"
            return None
        now = time.monotonic()
        if self.first_read_s is None:
            self.first_read_s = now
        if self.has_counter:
            # amdsmi before 6.2.1 called the accumulator "power".
            ticks = counter.get("energy_accumulator", counter.get("power"))
            self.resolution_uj = counter["counter_resolution"]
            self._advance(ticks, now)
        self.last_good_read_s = now
        span_s = 0.0 if self.last_gauge_read_s is None else now - self.last_gauge_read_s
        self.last_gauge_read_s = now
        if now >= self.next_extras_s:
            self._read_extras(amdsmi)
            self.next_extras_s = now + EXTRAS_INTERVAL_S
        # A reading stands for the span since the read before it, as NVML's do.
        self.util_pct_s += self.utilization_pct * span_s
        self.memory_mib_s += self.memory_used_mib * span_s
        for quantity, share in self.throttled_share.items():
            self.throttled_s[quantity] += share * span_s
        return self.energy_j()

    def _advance(self, ticks: int, now: float) -> None:
        if self.last_ticks is not None:
            if ticks >= self.last_ticks:
                self.total_ticks += ticks - self.last_ticks
            elif self._plausible_wrap(ticks, now):
                self.total_ticks += ticks + WRAP_32 - self.last_ticks
                self.wraps += 1
            else:  # restarted from zero: what it counted since then is the run's too
                self.total_ticks += ticks
                self.resets += 1
        self.last_ticks = ticks

    def _plausible_wrap(self, ticks: int, now: float) -> bool:
        if self.last_ticks >= WRAP_32:
            return False  # a 64-bit accumulator does not wrap in a GPU's lifetime
        wrapped_j = (ticks + WRAP_32 - self.last_ticks) * self.resolution_uj / 1e6
        elapsed_s = max(now - (self.last_good_read_s or now), 1e-3)
        return wrapped_j / elapsed_s <= MAX_PLAUSIBLE_POWER_W

    def energy_j(self) -> float:
        if self.has_counter:
            return self.total_ticks * self.resolution_uj / 1e6
        return self.power.energy_j

    def _read_extras(self, amdsmi) -> None:
        """Utilisation of the command's logical GPUs and the device's memory in use:
        extras, so any failure only stops them."""
        if self.has_utilization:
            try:
                busy = [amdsmi.amdsmi_get_gpu_activity(g.handle)["gfx_activity"] for g in self.used]
                busy = [b for b in busy if isinstance(b, int) and b <= 100]
                if not busy:
                    raise ValueError("gfx_activity is N/A")
                self.utilization_pct = sum(busy) / len(busy)
                self.utilization_sum_pct += self.utilization_pct
                self.utilization_samples += 1
            except Exception:
                self.has_utilization = False
        if self.has_memory:
            try:
                vram = amdsmi.amdsmi_get_gpu_vram_usage(self.logical[0].handle)
                self.memory_used_mib = float(vram["vram_used"])
                total = vram.get("vram_total")
                self.memory_total_mib = float(total) if isinstance(total, int) else None
                self.peak_memory_used_mib = max(
                    self.memory_used_mib, self.peak_memory_used_mib or 0.0
                )
            except Exception:
                self.has_memory = False
        if self.has_throttle:
            try:
                self._read_violations(amdsmi)
            except Exception:  # not an MI300 (N/A), or older bindings
                self.has_throttle = False

    def _read_violations(self, amdsmi) -> None:
        """The share of the time since the last reading that the device was held down by
        its power limit and for temperature (read on the primary: the whole device's)."""
        now = _violation_accumulators(amdsmi, self.logical[0].handle)
        last, self.last_violations = self.last_violations, now
        if last is None or now["accumulation_counter"] <= last["accumulation_counter"]:
            return  # the first reading, or no firmware sample since: keep the last share
        samples = now["accumulation_counter"] - last["accumulation_counter"]
        for quantity, key in VIOLATION_ACCUMULATORS.items():
            self.throttled_share[quantity] = min(max((now[key] - last[key]) / samples, 0.0), 1.0)

    def activity(self) -> list[float | None]:
        """The integrals of :data:`GPU_GAUGES`, in that order (None: not readable here)."""
        if self.error is not None:
            return [None] * len(GPU_GAUGES)
        throttle = self.has_throttle
        return [
            self.util_pct_s if self.has_utilization else None,
            self.memory_mib_s if self.has_memory else None,
            self.throttled_s["gpu_power_capped"] if throttle else None,
            self.throttled_s["gpu_thermal"] if throttle else None,
        ]

    def pids(self, amdsmi) -> set[int] | None:
        """Processes on any logical GPU of the device: all of them share its energy."""
        if self.error is not None or not self.has_process_list:
            return None
        try:
            return {
                p["pid"] for g in self.logical for p in amdsmi.amdsmi_get_gpu_process_list(g.handle)
            }
        except Exception:  # shared_gpu stays unknown; the energy is unaffected
            self.has_process_list = False
            return None

    def covered_s(self) -> float:
        if self.first_read_s is None or self.last_good_read_s is None:
            return 0.0
        return self.last_good_read_s - self.first_read_s

    def details(self) -> dict:
        found: dict = {
            "uuid": self.logical[0].uuid,
            "max_power_w": _rounded(self.power.max_power_w),
            "mean_utilization_pct": _rounded(
                self.utilization_sum_pct / self.utilization_samples
                if self.utilization_samples
                else None
            ),
            "peak_memory_used_mib": _rounded(self.peak_memory_used_mib),
            "memory_total_mib": _rounded(self.memory_total_mib),
            "shared_gpu": bool(self.other_pids) if self.shared_checked else None,
        }
        if self.other_pids:
            found["other_pids"] = sorted(self.other_pids)
        if len(self.logical) > 1:
            found["partitions"] = [g.uuid for g in self.used]
            if self.compute_partition:
                found["compute_partition"] = self.compute_partition
        if self.has_counter:
            found["counter_wraps"] = self.wraps
            found["counter_resets"] = self.resets
        if self.error is not None:
            found["error"] = self.error
        return found

    def warnings(self) -> list[str]:
        label = f"GPU {self.index} ({self.name})"
        said = [shared_warning(label, self.other_pids)]
        if len(self.used) < len(self.logical):
            used = ", ".join(str(g.index) for g in self.used)
            if self.dies:
                said.append(
                    f"{label} reports the power of both dies of its package; the command "
                    f"may use GPU {used} only, but the figure includes both dies."
                )
            else:
                said.append(
                    f"{label} is split into {len(self.logical)} compute partitions"
                    f"{f' ({self.compute_partition})' if self.compute_partition else ''}; "
                    f"the command may use GPU {used}, but AMD SMI reports energy for the whole "
                    "device, so the figure includes the other partitions."
                )
        if self.resets:
            said.append(
                f"{label}: the energy counter restarted {self.resets} time(s) during the run "
                "(GPU reset or driver reload); the figure misses what was drawn between the "
                "read before and the restart."
            )
        if self.error is not None:
            said.append(f"{label}: AMD SMI stopped answering ({self.error}).")
        if self.has_counter and self.power.samples and self.last_ticks is not None:
            disagreement = counter_disagreement(self.energy_j(), self.power, self.covered_s())
            if disagreement is not None:
                said.append(
                    disagreement_warning(
                        label,
                        self.energy_j(),
                        self.power.energy_j,
                        disagreement,
                        "ROCm/amdsmi issue #38",
                    )
                )
        return [w for w in said if w]


def _violation_accumulators(amdsmi, handle) -> dict[str, int]:
    """gpu_metrics' sample count and violation accumulators. The structure is read through
    the bindings' ctypes layer: their ``amdsmi_get_gpu_metrics_info`` turns every one of
    its hundreds of fields into a dict entry, about 0.8 ms of CPU per call."""
    import ctypes

    wrapper = amdsmi.amdsmi_wrapper
    metrics = wrapper.amdsmi_gpu_metrics_t()
    status = wrapper.amdsmi_get_gpu_metrics_info(handle, ctypes.byref(metrics))
    if status != 0:
        raise amdsmi.AmdSmiLibraryException(status)
    found = {
        key: getattr(metrics, key)
        for key in ("accumulation_counter", *VIOLATION_ACCUMULATORS.values())
    }
    if NOT_AVAILABLE_64 in found.values():
        raise ValueError("violation accumulators are N/A (gpu_metrics before 1.6)")
    return found


# --- the library and the bindings ------------------------------------------------------


def library_candidates(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Where the bindings look for ``libamd_smi.so``, in their order: ``$ROCM_HOME/lib``
    (or ``$ROCM_PATH/lib``), the dynamic linker's path, beside the bindings, and
    ``$ROCM_PATH/lib`` or ``/opt/rocm/lib``."""
    candidates = []
    rocm = environ.get("ROCM_HOME", environ.get("ROCM_PATH"))
    if rocm:
        candidates.append(os.path.join(rocm, "lib", LIBRARY))
    candidates.append(LIBRARY)
    package = bindings_dir()
    if package is not None:
        candidates.append(str(package / LIBRARY))
    candidates.append(os.path.join(environ.get("ROCM_PATH", "/opt/rocm"), "lib", LIBRARY))
    return list(dict.fromkeys(candidates))


def bindings_dir() -> Path | None:
    """The installed ``amdsmi`` package's folder, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("amdsmi")
    except (ImportError, ValueError):
        return None
    return None if spec is None or spec.origin is None else Path(spec.origin).parent


def find_library(environ: Mapping[str, str] = os.environ) -> str | None:
    """The first candidate that loads, as the bindings will load it, or None. Loading
    runs the library's constructors, so stdout is kept from them too."""
    import ctypes

    with stdout_captured():
        for candidate in library_candidates(environ):
            try:
                ctypes.CDLL(candidate)
            except OSError:
                continue
            return candidate
    return None


_NO_ROCM = (
    "no ROCm (libamd_smi.so not found)",
    "on an AMD GPU machine, install ROCm's amd-smi-lib and `pip install greenmeter[amd]`",
)


def _start_amdsmi():
    """Import the bindings and initialise AMD SMI, or say in one line why not."""
    if find_library() is None:
        raise NoGpuHere(*_NO_ROCM)
    amdsmi = _import_bindings()
    try:
        with stdout_captured():
            amdsmi.amdsmi_init(amdsmi.AmdSmiInitFlags.INIT_AMD_GPUS)
    except amdsmi.AmdSmiLibraryException as exc:
        raise _init_failure(exc.get_error_code(), _said(exc)) from None
    except amdsmi.AmdSmiException as exc:
        raise SensorUnavailable(
            f"AMD SMI failed to start: {_said(exc)}", "check that amd-smi works"
        ) from None
    return amdsmi


def _import_bindings():
    """``import amdsmi`` with whatever it prints kept off the command's stdout."""
    if bindings_dir() is None:
        raise SensorUnavailable(
            "ROCm's libamd_smi.so is here but the amdsmi Python bindings are not installed",
            "pip install greenmeter[amd] (or the copy ROCm ships: "
            "pip install $ROCM_PATH/share/amd_smi)",
        )
    printed = io.StringIO()
    try:
        with stdout_captured(printed):
            import amdsmi
    except Exception as exc:  # KeyError, AttributeError, OSError: a broken or mismatched install
        said = " ".join(printed.getvalue().split()) or f"{type(exc).__name__}: {exc}"
        raise SensorUnavailable(
            f"the amdsmi bindings do not load ROCm's library: {said}",
            "install the bindings that match the installed ROCm "
            "(pip install $ROCM_PATH/share/amd_smi), or set ROCM_PATH to that ROCm",
        ) from None
    return amdsmi


def _init_failure(code: int, said: str) -> SensorUnavailable:
    if code == 34:  # AMDSMI_STATUS_DRIVER_NOT_LOADED
        return SensorUnavailable(
            "the amdgpu kernel driver is not loaded",
            "load it (sudo modprobe amdgpu) and check that amd-smi lists the GPU",
        )
    if code == 10:  # AMDSMI_STATUS_NO_PERM
        return SensorUnavailable(
            "no permission to use the AMD GPUs",
            "give the user access to /dev/kfd and /dev/dri/renderD* "
            "(sudo usermod -aG render,video $USER, then log in again)",
        )
    return SensorUnavailable(f"AMD SMI failed to start: {said}", "check that amd-smi works")


def _stop_amdsmi(amdsmi) -> None:
    try:
        with stdout_captured():
            amdsmi.amdsmi_shut_down()
    except amdsmi.AmdSmiException:
        pass  # nothing left to release


def _said(exc: BaseException) -> str:
    """An AMD SMI error in one line (the bindings put a newline and a tab in theirs)."""
    return re.sub(r"\s+", " ", str(exc)).strip()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- doctor -----------------------------------------------------------------------------


def diagnose(dev_root: str | os.PathLike = "/dev", sys_root: str | os.PathLike = "/sys") -> dict:
    """What ``greenmeter doctor`` shows about AMD GPUs: the library and the bindings,
    per logical GPU what it can measure, and what stands in the way (driver, device
    files, groups), or the one-line reason there is no AMD GPU."""
    library = find_library()
    report: dict = {
        "available": False,
        "reason": None,
        "fix": None,
        "library": library,
        "bindings": str(bindings_dir()) if bindings_dir() is not None else None,
        "gpus": [],
        "access": [],
    }
    if library is None and report["bindings"] is None:
        report["reason"], report["fix"] = _NO_ROCM
        return report
    report["access"] = _device_access(Path(dev_root), Path(sys_root))
    if library is None:
        report["reason"] = (
            "the amdsmi bindings are installed but ROCm's libamd_smi.so is not found "
            f"(looked for {', '.join(library_candidates())})"
        )
        report["fix"] = (
            "install ROCm's amd-smi-lib, or set ROCM_PATH to the ROCm install "
            "(the folder whose lib/ holds libamd_smi.so)"
        )
        return report
    try:
        amdsmi = _start_amdsmi()
    except SensorUnavailable as exc:
        report["reason"], report["fix"] = exc.reason, exc.fix
        return report
    try:
        for gpu in _enumerate(amdsmi):
            report["gpus"].append(_diagnose_gpu(amdsmi, gpu))
    except amdsmi.AmdSmiException as exc:
        report["reason"] = f"AMD SMI failed: {_said(exc)}"
        return report
    finally:
        _stop_amdsmi(amdsmi)
    report["available"] = bool(report["gpus"])
    if not report["gpus"]:
        report["reason"] = "AMD SMI sees no GPU"
    return report


def _diagnose_gpu(amdsmi, gpu: _Logical) -> dict:
    entry: dict = {
        "index": gpu.index,
        "name": gpu.name,
        "uuid": gpu.uuid,
        "hip_uuid": gpu.hip_uuid,
        "bdf": gpu.bdf,
        "partition": gpu.partition,
        "energy_counter": False,
        "power": None,
        "power_limit_w": None,
    }
    if gpu.error is not None:
        entry["error"] = gpu.error
        return entry
    try:
        entry["energy_counter"] = (
            amdsmi.amdsmi_get_energy_count(gpu.handle)["counter_resolution"] > 0
        )
    except amdsmi.AmdSmiLibraryException as exc:
        if exc.get_error_code() != 2:  # AMDSMI_STATUS_NOT_SUPPORTED
            entry["error"] = f"energy counter: {_said(exc)}"
    with contextlib.suppress(amdsmi.AmdSmiException):
        info = amdsmi.amdsmi_get_power_info(gpu.handle)
        entry["power"] = next((f for f in POWER_FIELDS if _power_w(info, f) is not None), None)
    with contextlib.suppress(amdsmi.AmdSmiException, AttributeError, TypeError):
        entry["power_limit_w"] = amdsmi.amdsmi_get_power_cap_info(gpu.handle)["power_cap"] / 1e6
    return entry


def _device_access(dev: Path, sys_root: Path) -> list[dict]:
    """What the ROCm stack needs from the system, each with whether it holds and the fix."""
    found = []
    driver = (sys_root / "module" / "amdgpu").exists()
    found.append(
        {
            "check": "amdgpu kernel driver loaded",
            "ok": driver,
            "fix": None if driver else "load it: sudo modprobe amdgpu (and check dmesg)",
        }
    )
    kfd = dev / "kfd"
    renders = sorted((dev / "dri").glob("renderD*")) if (dev / "dri").is_dir() else []
    in_container = "in a container, pass --device=/dev/kfd --device=/dev/dri"
    for path, what in [(kfd, "the compute driver")] + [(r, "a GPU render node") for r in renders]:
        if not path.exists():
            found.append(
                {"check": f"{path} ({what})", "ok": False, "fix": f"missing: {in_container}"}
            )
            continue
        usable = os.access(path, os.R_OK | os.W_OK)
        found.append(
            {
                "check": f"{path} ({what}) readable and writable",
                "ok": usable,
                "fix": None
                if usable
                else f"join its group ({_group_of(path)}): sudo usermod -aG render,video "
                "$USER, then log in again",
            }
        )
    if kfd.exists() and not renders:
        found.append(
            {"check": f"{dev / 'dri'}/renderD*", "ok": False, "fix": f"missing: {in_container}"}
        )
    return found


def _group_of(path: Path) -> str:
    import grp

    try:
        return grp.getgrgid(path.stat().st_gid).gr_name
    except (KeyError, OSError):
        return "render or video"
