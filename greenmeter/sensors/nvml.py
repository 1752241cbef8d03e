"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported as ``pynvml``).

Energy comes from ``nvmlDeviceGetTotalEnergyConsumption``, a millijoule counter since
the driver loaded (Volta and newer): the difference between the reads at the command's
exact start and end is the figure, whatever happened in between. Older GPUs lack it
(NOT_SUPPORTED); for them sampled ``nvmlDeviceGetPowerUsage`` is integrated with the
trapezoid rule at a 10 Hz poll, as Zeus does (half the counter update period, capped at
100 ms). Where the counter exists, power is still sampled so the two can be compared:
they do not always agree (Zeus issue #181), and the report says so when they don't.

Which GPUs: by default those the command can use, read from ``CUDA_VISIBLE_DEVICES``
exactly as CUDA reads it; ``--gpus`` overrides. ``pynvml`` is imported only inside the
functions that need it, so the rest of greenmeter starts fast without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from greenmeter.sensors.base import Sensor, SensorUnavailable
from greenmeter.sensors.gpu_power import PowerIntegral, counter_disagreement
from greenmeter.sensors.gpu_selection import GpuSelectionError, NoGpuHere, parse_gpu_selection
from greenmeter.sensors.gpu_sensor import GpuSensor, disagreement_warning, shared_warning
from greenmeter.sensors.process_tree import ProcessTree

POLL_INTERVAL_S = 0.1
"""Power poll for GPUs without an energy counter (Zeus: half the update period, <= 100 ms)."""
MIB = 1024 * 1024
THROTTLE_POWER = 0x4 | 0x80
"""NVML clock-throttle (event) reasons: SW power cap, HW power brake."""
THROTTLE_THERMAL = 0x20 | 0x40
"""SW and HW thermal slowdown. (HW slowdown, 0x8, is either; its two causes say which.)"""
THROTTLE_IDLE = 0x1
GPU_GAUGES = (
    "gpu_util_pct",
    "gpu_memory_used_mib",
    "gpu_power_capped",
    "gpu_thermal",
    "gpu_idle_clocks",
)


def open_nvml(
    selection: str | None,
    visible_devices: str | None,
    tree: ProcessTree,
    *,
    cuda_device_order: str | None = None,
    unmatched: dict[str, str] | None = None,
) -> Sensor:
    """Open the GPUs to measure.

    ``selection`` is a ``--gpus`` value (see :func:`parse_gpu_selection`) or None for
    the GPUs ``visible_devices`` (the command's ``CUDA_VISIBLE_DEVICES``; None = unset)
    lets the command use. ``cuda_device_order`` is the command's ``CUDA_DEVICE_ORDER``:
    CUDA numbers GPUs fastest first unless it is ``PCI_BUS_ID``, NVML always by bus.

    Raises :class:`SensorUnavailable` when nothing can be measured (no library, no
    driver, no GPU, all hidden) and :class:`GpuSelectionError` for a ``--gpus`` entry
    that matches no GPU, unless ``unmatched`` is given: such entries are then recorded
    there (entry -> why) for the caller, which knows whether another vendor has them.
    """
    if selection is not None:
        try:
            selection = parse_gpu_selection(selection)
        except ValueError as exc:
            raise GpuSelectionError(str(exc)) from None
    if selection == "none":
        raise NoGpuHere("GPU measurement is turned off (--gpus none)")
    nvml = _start_nvml()
    try:
        return _open_gpus(nvml, selection, visible_devices, tree, cuda_device_order, unmatched)
    except nvml.NVMLError as exc:
        _stop_nvml(nvml)
        raise SensorUnavailable(
            f"NVML failed while opening the GPUs: {exc}", "check that nvidia-smi works"
        ) from None
    except BaseException:
        _stop_nvml(nvml)
        raise


def _open_gpus(nvml, selection, visible_devices, tree, cuda_device_order, unmatched) -> NvmlSensor:
    count = nvml.nvmlDeviceGetCount()
    if count == 0:
        raise NoGpuHere("NVML sees no GPU", "check that nvidia-smi lists the GPU on this machine")
    # One GPU that NVML cannot open (lost, or barred by a cgroup) must not cost the others.
    handles: list = [None] * count
    uuids: list[str | None] = [None] * count
    open_errors: dict[int, str] = {}
    for index in range(count):
        try:
            handles[index] = nvml.nvmlDeviceGetHandleByIndex(index)
            uuids[index] = _text(nvml.nvmlDeviceGetUUID(handles[index]))
        except nvml.NVMLError as exc:
            open_errors[index] = str(exc)
    notes: list[str] = []
    if selection == "all":
        picked = _from_cuda_visible_devices(nvml, None, uuids)
    elif selection is not None:
        picked = _from_gpus_option(nvml, selection, uuids, unmatched)
        if not picked:
            raise NoGpuHere(f"--gpus {selection} names no NVIDIA GPU")
    else:
        picked = _from_cuda_visible_devices(nvml, visible_devices, uuids)
        if not picked:
            raise NoGpuHere(
                f"CUDA_VISIBLE_DEVICES={visible_devices!r} hides every GPU from the command",
                "pass --gpus all to measure the GPUs anyway",
            )
        if visible_devices is not None:
            notes += _order_warning(nvml, handles, visible_devices, cuda_device_order)
    gpus = []
    for index, migs in picked.items():
        error = open_errors.get(index)
        if error is None:
            try:
                gpu = _Gpu.open(nvml, index, handles[index], uuids[index], migs)
            except nvml.NVMLError as exc:
                error = str(exc)
        if error is not None:
            notes.append(f"GPU {index}: NVML cannot read it ({error}); it is not measured.")
            continue
        if gpu.has_counter or gpu.has_power:
            gpus.append(gpu)
        else:
            notes.append(
                f"GPU {index} ({gpu.name}) reports neither an energy counter nor power "
                "draw; it is not measured."
            )
    if not gpus:
        raise SensorUnavailable(
            "no selected GPU reports energy or power through NVML",
            "see `greenmeter doctor` for what each GPU supports",
        )
    return NvmlSensor(nvml, gpus, tree, notes)


def diagnose() -> dict:
    """What ``greenmeter doctor`` shows about GPUs: the driver and, per GPU, whether the
    energy counter works and the power limit; or the one-line reason there is no GPU."""
    try:
        nvml = _start_nvml()
    except SensorUnavailable as exc:
        return {
            "available": False,
            "reason": exc.reason,
            "fix": exc.fix,
            "driver_version": None,
            "gpus": [],
        }
    try:
        report: dict = {
            "available": False,
            "reason": None,
            "fix": None,
            "driver_version": None,
            "gpus": [],
        }
        try:
            report["driver_version"] = _text(nvml.nvmlSystemGetDriverVersion())
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            report["reason"] = f"NVML failed: {exc}"
            return report
        for index in range(count):
            report["gpus"].append(_diagnose_gpu(nvml, index))
        report["available"] = bool(report["gpus"])
        if not report["gpus"]:
            report["reason"] = "NVML sees no GPU"
        return report
    finally:
        _stop_nvml(nvml)


def _diagnose_gpu(nvml, index: int) -> dict:
    entry: dict = {
        "index": index,
        "name": None,
        "uuid": None,
        "energy_counter": False,
        "power_limit_w": None,
    }
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        entry["name"] = _text(nvml.nvmlDeviceGetName(handle))
        entry["uuid"] = _text(nvml.nvmlDeviceGetUUID(handle))
    except nvml.NVMLError as exc:
        entry["error"] = str(exc)
        return entry
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        entry["energy_counter"] = True
    except nvml.NVMLError as exc:
        if not isinstance(exc, nvml.NVMLError_NotSupported):
            entry["error"] = f"energy counter: {exc}"
    try:
        entry["power_limit_w"] = nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000.0
    except nvml.NVMLError:
        pass  # not every GPU exposes a limit; doctor shows it as unknown
    return entry


class NvmlSensor(GpuSensor):
    """One component per selected GPU, all read together."""

    def __init__(self, nvml, gpus: list[_Gpu], tree: ProcessTree, notes: list[str]):
        super().__init__(
            nvml, gpus, tree, notes, sources=("nvml-energy", "nvml-power"), gauges=GPU_GAUGES
        )

    def max_interval_s(self) -> float | None:
        if all(gpu.has_counter for gpu in self._devices):
            return None  # a 64-bit millijoule counter never wraps
        return POLL_INTERVAL_S

    def close(self) -> None:
        _stop_nvml(self._library)


@dataclass(eq=False)
class _Gpu:
    """One GPU's handle, what it supports, and what was read from it during the run."""

    index: int
    handle: object
    name: str
    uuid: str
    mig_uuids: list[str]
    has_counter: bool
    has_power: bool
    has_utilization: bool = True
    has_memory: bool = True
    has_process_list: bool = True
    has_throttle: bool = True
    first_counter_mj: int | None = None
    last_counter_mj: int | None = None
    first_read_s: float | None = None
    last_good_read_s: float | None = None
    power: PowerIntegral = field(default_factory=PowerIntegral)
    utilization_sum_pct: float = 0.0
    utilization_samples: int = 0
    peak_memory_used_b: int | None = None
    memory_total_b: int | None = None
    last_extras_s: float | None = None
    util_pct_s: float = 0.0
    """Running integrals of the gauges (``read_activity``): % x s, MiB x s, seconds."""
    memory_mib_s: float = 0.0
    throttled_s: dict[int, float] = field(
        default_factory=lambda: dict.fromkeys(
            (THROTTLE_POWER, THROTTLE_THERMAL, THROTTLE_IDLE), 0.0
        )
    )
    shared_checked: bool = False
    other_pids: set[int] = field(default_factory=set)
    error: str | None = None

    @classmethod
    def open(cls, nvml, index: int, handle, uuid: str, mig_uuids: list[str]) -> _Gpu:
        return cls(
            index=index,
            handle=handle,
            name=_text(nvml.nvmlDeviceGetName(handle)),
            uuid=uuid,
            mig_uuids=mig_uuids,
            has_counter=_supported(nvml, nvml.nvmlDeviceGetTotalEnergyConsumption, handle),
            has_power=_supported(nvml, nvml.nvmlDeviceGetPowerUsage, handle),
        )

    def read(self, nvml) -> float | None:
        """Joules since the first read, or None once NVML has failed on this GPU."""
        if self.error is not None:
            return None
        try:
            if self.has_counter:
                counter_mj = nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            if self.has_power:
                before = time.monotonic()
                power_w = nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
                # The sample belongs to the middle of the call, not to either end.
                self.power.add((before + time.monotonic()) / 2, power_w)
        except Exception as exc:  # GPU lost, Xid, any NVML error: never stop the run
            self.error = f"{type(exc).__name__}: {exc}"
            return None
        now = time.monotonic()
        if self.first_read_s is None:
            self.first_read_s = now
        if self.has_counter:
            if self.last_counter_mj is not None and counter_mj < self.last_counter_mj:
                self.error = "energy counter went backwards (driver reloaded?)"
                return None
            if self.first_counter_mj is None:
                self.first_counter_mj = counter_mj
            self.last_counter_mj = counter_mj
        self.last_good_read_s = now
        self._read_extras(nvml, now)
        return self.energy_j()

    def energy_j(self) -> float:
        if self.has_counter:
            return (self.last_counter_mj - self.first_counter_mj) / 1000.0
        return self.power.energy_j

    def _read_extras(self, nvml, now: float) -> None:
        """Utilisation, memory and throttle reasons for the report and the timeline:
        extras, so any failure only stops them. Each reading stands for the span since the
        previous one (NVML's utilisation is itself a mean over its last sample period)."""
        span_s = 0.0 if self.last_extras_s is None else now - self.last_extras_s
        self.last_extras_s = now
        if self.has_utilization:
            try:
                util = nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu
                self.utilization_sum_pct += util
                self.utilization_samples += 1
                self.util_pct_s += util * span_s
            except Exception:
                self.has_utilization = False
        if self.has_memory:
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(self.handle)
                self.peak_memory_used_b = max(memory.used, self.peak_memory_used_b or 0)
                self.memory_total_b = memory.total
                self.memory_mib_s += memory.used / MIB * span_s
            except Exception:
                self.has_memory = False
        if self.has_throttle:
            try:
                reasons = _throttle_reasons(nvml, self.handle)
                for mask in self.throttled_s:
                    if reasons & mask:
                        self.throttled_s[mask] += span_s
            except Exception:
                self.has_throttle = False

    def activity(self) -> list[float | None]:
        """The integrals of :data:`GPU_GAUGES`, in that order (None: not readable here)."""
        if self.error is not None:
            return [None] * len(GPU_GAUGES)
        throttle = self.has_throttle
        return [
            self.util_pct_s if self.has_utilization else None,
            self.memory_mib_s if self.has_memory else None,
            self.throttled_s[THROTTLE_POWER] if throttle else None,
            self.throttled_s[THROTTLE_THERMAL] if throttle else None,
            self.throttled_s[THROTTLE_IDLE] if throttle else None,
        ]

    def pids(self, nvml) -> set[int] | None:
        if self.error is not None or not self.has_process_list:
            return None
        try:
            return {p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)}
        except Exception:  # shared_gpu stays unknown; the energy is unaffected
            self.has_process_list = False
            return None

    def covered_s(self) -> float:
        if self.first_read_s is None or self.last_good_read_s is None:
            return 0.0
        return self.last_good_read_s - self.first_read_s

    def details(self) -> dict:
        found: dict = {
            "uuid": self.uuid,
            "max_power_w": _rounded(self.power.max_power_w),
            "mean_utilization_pct": _rounded(
                self.utilization_sum_pct / self.utilization_samples
                if self.utilization_samples
                else None
            ),
            "peak_memory_used_mib": _rounded(
                None if self.peak_memory_used_b is None else self.peak_memory_used_b / MIB
            ),
            "memory_total_mib": _rounded(
                None if self.memory_total_b is None else self.memory_total_b / MIB
            ),
            "shared_gpu": bool(self.other_pids) if self.shared_checked else None,
        }
        if self.other_pids:
            found["other_pids"] = sorted(self.other_pids)
        if self.mig_uuids:
            found["mig_devices"] = list(self.mig_uuids)
        if self.error is not None:
            found["error"] = self.error
        return found

    def warnings(self) -> list[str]:
        label = f"GPU {self.index} ({self.name})"
        said = [shared_warning(label, self.other_pids)]
        if self.mig_uuids:
            said.append(
                f"{label} is split into MIG slices; the command used {', '.join(self.mig_uuids)} "
                "but NVML measures the whole GPU, so the figure includes the other slices."
            )
        if self.error is not None:
            # The report adds how much of the run the figure covers.
            said.append(f"{label}: NVML stopped answering ({self.error}).")
        disagreement = self._counter_disagreement()
        if disagreement is not None:
            said.append(
                disagreement_warning(
                    label, self.energy_j(), self.power.energy_j, disagreement, "Zeus issue #181"
                )
            )
        return [w for w in said if w]

    def _counter_disagreement(self) -> float | None:
        if not (self.has_counter and self.has_power) or self.first_counter_mj is None:
            return None
        return counter_disagreement(self.energy_j(), self.power, self.covered_s())


_NO_DRIVER = (
    "no NVIDIA driver (libnvidia-ml.so.1 not found)",
    "install the NVIDIA driver, or in a container pass the GPU in (docker run --gpus all)",
)


def _start_nvml():
    """Import pynvml and initialise NVML, or say in one line why there is no GPU."""
    import ctypes

    try:
        # pynvml takes ~13 ms to import: not worth it where the driver's library is
        # absent (most CI runners and laptops). dlopen searches as pynvml's own load does.
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        raise NoGpuHere(*_NO_DRIVER) from None
    try:
        import pynvml
    except ImportError:
        raise SensorUnavailable(
            "nvidia-ml-py is not installed", "pip install nvidia-ml-py"
        ) from None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        raise NoGpuHere(*_NO_DRIVER) from None
    except pynvml.NVMLError_DriverNotLoaded:
        raise SensorUnavailable(
            "the NVIDIA kernel driver is not loaded", "check that nvidia-smi works"
        ) from None
    except pynvml.NVMLError_NoPermission:
        raise SensorUnavailable(
            "no permission to use NVML", "check the permissions of /dev/nvidia*"
        ) from None
    except pynvml.NVMLError as exc:
        raise SensorUnavailable(
            f"NVML failed to start: {exc}", "check that nvidia-smi works"
        ) from None
    return pynvml


def _throttle_reasons(nvml, handle) -> int:
    """The clock-throttle reasons bitmask (renamed "clocks event reasons" in CUDA 12.2's
    NVML; drivers export both names)."""
    try:
        return nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
    except nvml.NVMLError_FunctionNotFound:
        return nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)


def _stop_nvml(nvml) -> None:
    try:
        nvml.nvmlShutdown()
    except nvml.NVMLError:
        pass  # nothing left to release


def _supported(nvml, call, handle) -> bool:
    try:
        call(handle)
    except nvml.NVMLError_NotSupported:
        return False
    return True


def _from_cuda_visible_devices(
    nvml, visible: str | None, uuids: list[str | None]
) -> dict[int, list[str]]:
    """NVML indexes (with the MIG ids used on each) of the GPUs CUDA would show.

    CUDA's rules: unset means every GPU; empty or ``NoDevFiles`` none; otherwise entries
    are read up to the first one that names no device (``-1`` is the usual way to end
    the list early), and the rest is ignored.
    """
    if visible is None:
        return {index: [] for index in range(len(uuids))}
    picked: dict[int, list[str]] = {}
    for token in visible.split(","):
        resolved = _resolve(nvml, token.strip(), uuids)
        if not isinstance(resolved, tuple):
            break
        index, mig = resolved
        picked.setdefault(index, [])
        if mig and mig not in picked[index]:
            picked[index].append(mig)
    return picked


def _from_gpus_option(
    nvml, selection: str, uuids: list[str | None], unmatched: dict[str, str] | None
) -> dict[int, list[str]]:
    picked: dict[int, list[str]] = {}
    for token in selection.split(","):
        resolved = _resolve(nvml, token, uuids)
        if not isinstance(resolved, tuple):
            if unmatched is None:
                raise GpuSelectionError(f"{token}: {resolved}")
            unmatched[token] = resolved
            continue
        index, mig = resolved
        picked.setdefault(index, [])
        if mig and mig not in picked[index]:
            picked[index].append(mig)
    return picked


def _resolve(nvml, token: str, uuids: list[str | None]) -> tuple[int, str | None] | str:
    """(NVML index, MIG id or None) for one device name, or why it names no GPU."""
    if token.isdigit():
        index = int(token)
        if index < len(uuids):
            return index, None
        return f"no such GPU (NVML sees {len(uuids)}: 0-{len(uuids) - 1})"
    if token.startswith("GPU-"):
        return _match_uuid_prefix(token, uuids)
    if token.startswith("MIG-GPU-"):
        # The pre-R470 form MIG-GPU-<uuid>/<gpu instance>/<compute instance>.
        parent = _match_uuid_prefix(token[len("MIG-") :].split("/")[0], uuids)
        return (parent[0], token) if isinstance(parent, tuple) else parent
    if token.startswith("MIG-"):
        try:
            mig = nvml.nvmlDeviceGetHandleByUUID(token)
            parent = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            return nvml.nvmlDeviceGetIndex(parent), token
        except nvml.NVMLError as exc:
            return f"no such MIG device ({exc})"
    return "not a GPU index, GPU- UUID or MIG- id"


def _match_uuid_prefix(prefix: str, uuids: list[str | None]) -> tuple[int, None] | str:
    # CUDA accepts any unique prefix of a GPU UUID.
    matches = [
        i
        for i, uuid in enumerate(uuids)
        if uuid is not None and uuid.lower().startswith(prefix.lower())
    ]
    if len(matches) == 1:
        return matches[0], None
    return "no GPU has this UUID" if not matches else "UUID prefix matches several GPUs"


def _order_warning(nvml, handles, visible: str, order: str | None) -> list[str]:
    """CUDA numbers GPUs fastest first by default, NVML by PCI bus: on a machine with
    different models an index in CUDA_VISIBLE_DEVICES may mean another GPU to NVML."""
    if order == "PCI_BUS_ID" or not any(t.strip().isdigit() for t in visible.split(",")):
        return []
    if len({_text(nvml.nvmlDeviceGetName(h)) for h in handles if h is not None}) < 2:
        return []
    return [
        "CUDA_VISIBLE_DEVICES gives indexes on a machine with different GPU models and "
        "CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA may number the GPUs differently from "
        "NVML, so the measured GPUs may not be the ones the command used. Set "
        "CUDA_DEVICE_ORDER=PCI_BUS_ID or use GPU UUIDs."
    ]


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
