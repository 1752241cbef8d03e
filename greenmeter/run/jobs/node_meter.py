"""One meter per node: the ranks of a job on one node measure each shared device once.

Every ``greenmeter run`` of a job (``greenmeter.run.jobs.launcher``) meets the others of
its node in a directory keyed by (job, step, node) (:func:`node_directory`). Each shared
device, the node's CPU packages and DRAM as one, and every GPU by UUID, has a lock file
there; the rank that holds a device's ``flock`` is its meter and counts its energy,
the others count none of it. A GPU that only one rank sees (its CUDA_VISIBLE_DEVICES) is
therefore that rank's; a GPU that several see is counted once.

No rank waits for another: a rank that finds a device's lock taken starts at once and
leaves a thread blocked on the lock. Counters are absolute, so when the meter's command
ends it reads the device at the instant it lets go, and the kernel hands the lock to a
waiting rank, which reads it at the instant it takes it: the energies add, and the device
is measured for as long as any rank that sees it runs. A meter killed outright
(``kill -9``) lets go too (the kernel drops its locks), but without saying it handed
over: the taker finds the device's state file still naming it as measuring and records
the loss in ``lost.jsonl``, which every rank on the node reports (docs/clusters.md).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from greenmeter.run.jobs.launcher import JobIdentity
from greenmeter.sensors.base import ESTIMATED, Sensor

JOBS_DIR_VAR = "GREENMETER_JOBS_DIR"
NODE_DEVICE = "node"
"""The CPU packages and DRAM of the node (RAPL): one device, one meter."""
LOST_FILE = "lost.jsonl"
PRESENCE_FILE = "presence.lock"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def jobs_root() -> Path:
    """Where the node directories are: ``$GREENMETER_JOBS_DIR``, else ``/dev/shm`` (node
    local, memory-backed and the same for every process of the node, where TMPDIR and
    XDG_RUNTIME_DIR may differ between ranks or not exist on compute nodes), else the
    temporary directory; in a directory of the user's own."""
    explicit = os.environ.get(JOBS_DIR_VAR)
    if explicit:
        return Path(explicit)
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else tempfile.gettempdir()
    return Path(base) / f"greenmeter-jobs-{os.getuid()}"


def _safe(text: str) -> str:
    """A name for the file system that keeps distinct texts distinct."""
    clean = _UNSAFE.sub("_", text)[:80]
    if clean == text:
        return clean
    import hashlib  # only for names that need it (4 ms of a rank's start-up otherwise)

    return f"{clean}-{hashlib.sha1(text.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}"


def node_directory(identity: JobIdentity, root: Path | None = None) -> Path:
    key = f"{identity.job_id}.{identity.step_id or '-'}.{identity.node}"
    return (root or jobs_root()) / _safe(key)


def shared_devices(sensor: Sensor) -> list[str | None]:
    """For each component of ``sensor``: the shared device it belongs to, or None for a
    figure of this rank's own (an estimate of its process tree). GPUs are told apart by
    the UUID in their details; every other measured component is the node's."""
    try:
        details = sensor.details()
    except Exception:
        details = [{} for _ in sensor.components]
    devices: list[str | None] = []
    for component, extra in zip(sensor.components, details):
        if component.method == ESTIMATED:
            devices.append(None)
        elif extra.get("uuid"):
            devices.append(f"{component.kind} {extra['uuid']}")
        else:
            devices.append(NODE_DEVICE)
    return devices


class SharedSensor(Sensor):
    """``inner``'s components, each growing only while this run is its device's meter.

    Reads go on all the time (counters keep being unwrapped); what is added is the
    difference between consecutive reads made while the device is held, so taking and
    letting go of a device each cost one exact read at that instant (:meth:`hold`)."""

    def __init__(self, inner: Sensor, devices: list[str | None]):
        self.inner = inner
        self.devices = devices
        self.components = inner.components
        n = len(inner.components)
        self._held = [False] * n
        self._last: list[float | None] = [None] * n
        self._total_j = [0.0] * n
        self._lock = threading.Lock()

    def _update(self) -> list[float | None]:
        values = self.inner.read_energy_j()
        out: list[float | None] = []
        for i, value in enumerate(values):
            if value is not None:
                if self._held[i] and self._last[i] is not None:
                    self._total_j[i] += value - self._last[i]
                self._last[i] = value
            out.append(None if value is None and self._held[i] else self._total_j[i])
        return out

    def read_energy_j(self) -> list[float | None]:
        with self._lock:
            return self._update()

    def hold(self, device: str, held: bool) -> None:
        """Start (or stop) counting ``device``, from a read made now."""
        with self._lock:
            try:
                self._update()
            except Exception:  # the sampler's next read reports the sensor's error
                pass
            for i, name in enumerate(self.devices):
                if name == device:
                    self._held[i] = held

    def energy_j(self, device: str) -> float:
        with self._lock:
            return sum(
                total
                for total, name, comp in zip(self._total_j, self.devices, self.components)
                if name == device and comp.counted
            )

    def max_interval_s(self) -> float | None:
        return self.inner.max_interval_s()

    def details(self) -> list[dict]:
        return self.inner.details()

    def warnings(self) -> list[str]:
        return self.inner.warnings()

    def close(self) -> None:
        self.inner.close()


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class DeviceRole:
    """This run's part in measuring one shared device: its meter, or waiting to be."""

    def __init__(
        self,
        directory: Path,
        device: str,
        run_id: str,
        on_change: Callable[[str, bool], None],
    ):
        self.device = device
        self.run_id = run_id
        self._on_change = on_change
        self._lock_path = directory / f"{_safe(device)}.lock"
        self._state_path = directory / f"{_safe(device)}.json"
        self._lost_path = directory / LOST_FILE
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._closing = False
        self.held = False
        self.meter_at_start = False
        self.measured_by: str | None = None
        """The run that was this device's meter when this one started (if not this one)."""
        self.intervals: list[list[float]] = []
        """[[taken, let go], ...] in seconds since the epoch."""

    def join(self) -> None:
        self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            state = _read_json(self._state_path) or {}
            self.measured_by = state.get("run_id")
            threading.Thread(
                target=self._wait, name=f"greenmeter-meter-{self.device}", daemon=True
            ).start()
            return
        with self._mutex:
            self._take()
            self.meter_at_start = True

    def _wait(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._taken_after_waiting()
        except OSError:  # the node directory went with the last run: nothing to take
            pass

    def _taken_after_waiting(self) -> None:
        with self._mutex:
            if not self._closing:
                self._take()
                return
            # This run has ended already: pass the device straight on.
            self._note_lost_meter()
            _write_json_atomic(self._state_path, self._state("released"))
            os.close(self._fd)
            self._fd = None

    def _state(self, state: str) -> dict:
        return {"run_id": self.run_id, "pid": os.getpid(), "state": state, "at": time.time()}

    def _note_lost_meter(self) -> None:
        """The previous holder let go without saying so: it died (kill -9, OOM killer)."""
        state = _read_json(self._state_path)
        if not state or state.get("state") != "measuring" or state.get("run_id") == self.run_id:
            return
        entry = {
            "device": self.device,
            "run_id": state.get("run_id"),
            "pid": state.get("pid"),
            "meter_since": state.get("at"),
            "detected_at": time.time(),
            "detected_by": self.run_id,
        }
        with open(self._lost_path, "a", encoding="utf-8") as f:  # one short write: atomic
            f.write(json.dumps(entry) + "\n")

    def _take(self) -> None:
        self._note_lost_meter()
        _write_json_atomic(self._state_path, self._state("measuring"))
        self._on_change(self.device, True)  # the first read: counted from here
        now = time.time()
        self.intervals.append([now, now])
        self.held = True

    @property
    def joined(self) -> bool:
        return self._fd is not None

    def measure_alone(self) -> None:
        """No node directory to meet in: measure the device as if no other rank saw it."""
        with self._mutex:
            self._on_change(self.device, True)
            self.intervals.append([time.time(), time.time()])
            self.held = True
            self.meter_at_start = True

    def leave(self) -> None:
        with self._mutex:
            self._closing = True
            if not self.held:
                return  # the waiting thread, if it ever gets the lock, passes it on
            self._on_change(self.device, False)
            self.intervals[-1][1] = time.time()
            self.held = False
            if self._fd is None:
                return  # measured alone: no lock to pass on
            _write_json_atomic(self._state_path, self._state("released"))
            os.close(self._fd)  # lets go of the lock: a waiting rank takes over now
            self._fd = None

    def intervals_so_far(self) -> list[list[float]]:
        """When this run held the device; one still held ends now (a checkpoint)."""
        with self._mutex:
            held = [list(interval) for interval in self.intervals]
            if self.held:
                held[-1][1] = time.time()
            return held


class NodeMeter:
    """This run's place among the ranks of its node (see the module's docstring)."""

    def __init__(self, identity: JobIdentity, run_id: str, sensors: list[Sensor]):
        self.identity = identity
        self.run_id = run_id
        self.directory = node_directory(identity)
        self.error: str | None = None
        self.sensors: list[Sensor] = []
        self._shared: list[SharedSensor] = []
        devices: list[str] = []
        for sensor in sensors:
            per_component = shared_devices(sensor)
            if all(d is None for d in per_component):
                self.sensors.append(sensor)
                continue
            shared = SharedSensor(sensor, per_component)
            self._shared.append(shared)
            self.sensors.append(shared)
            for name in per_component:
                if name is not None and name not in devices:
                    devices.append(name)
        self.roles = [DeviceRole(self.directory, d, run_id, self._hold) for d in devices]
        self._presence: int | None = None
        self._joined_at = time.time()
        self._left_at: float | None = None

    def _hold(self, device: str, held: bool) -> None:
        for shared in self._shared:
            shared.hold(device, held)

    def join(self) -> None:
        """Meet the node's other ranks; never waits for them. A failure (no writable
        directory) leaves this run measuring every device it sees, and says so."""
        if not self.roles:
            return  # nothing shared to measure once (the estimate path): nothing to meet
        try:
            self._enter_directory()
            for role in self.roles:
                role.join()
        except OSError as exc:
            self.error = (
                f"job coordination unavailable in {self.directory} "
                f"({exc.strerror or exc}): this run measured its node's shared devices "
                f"itself, as if it were alone on the node; set {JOBS_DIR_VAR} to a "
                f"writable node-local directory"
            )
            for role in self.roles:
                if not role.joined:
                    role.measure_alone()

    def _enter_directory(self) -> None:
        """Create the node directory (mode 0700) and hold a shared presence lock on it;
        the last run to leave removes it. A directory removed between open and lock by
        the previous last run is entered again."""
        self.directory.parent.mkdir(mode=0o700, exist_ok=True)
        for _ in range(10):
            self.directory.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(
                self.directory / PRESENCE_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.directory / PRESENCE_FILE).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._presence = fd
                return
            os.close(fd)
        raise OSError(errno.EAGAIN, "the node directory keeps being removed")

    def leave(self) -> None:
        """Hand every device this run measures on to a waiting rank, at this instant."""
        self._left_at = time.time()
        for role in self.roles:
            try:
                role.leave()
            except OSError:
                pass  # the lock goes with the process anyway

    def close(self) -> None:
        """After the report: the last run of the node removes the directory."""
        fd, self._presence = self._presence, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return
        # No other run of the node is left (this run's own waiting threads may still
        # hold a lock file open: they wait for nobody now).
        shutil.rmtree(self.directory, ignore_errors=True)
        os.close(fd)

    def lost_meters(self) -> list[dict]:
        """Meters of this node that died while this run ran (from ``lost.jsonl``)."""
        try:
            lines = (self.directory / LOST_FILE).read_text().splitlines()
        except OSError:
            return []
        until = self._left_at or time.time()
        lost = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(entry, dict)
                and self._joined_at - 1 <= entry.get("detected_at", 0) <= until + 1
            ):
                lost.append(entry)
        return lost

    def summary(self) -> dict:
        """The report's ``job`` object (docs/report-schema.md)."""
        node = next((r for r in self.roles if r.device == NODE_DEVICE), None)
        path = "estimated"
        for sensor in self.sensors:
            for comp in sensor.components:
                if comp.counted and comp.kind in ("cpu", "dram") and comp.method != ESTIMATED:
                    path = "measured"
        devices = []
        for role in self.roles:
            energy = sum(s.energy_j(role.device) for s in self._shared)
            intervals = role.intervals_so_far()
            devices.append(
                {
                    "device": role.device,
                    "meter_at_start": role.meter_at_start,
                    "measured_by": role.measured_by,
                    "measured_s": round(sum(b - a for a, b in intervals), 3),
                    "energy_j": round(energy, 6),
                    "intervals": [[round(a, 3), round(b, 3)] for a, b in intervals],
                }
            )
        return {
            **self.identity.as_dict(),
            "node_meter": node.meter_at_start if node else None,
            "measured_by": node.measured_by if node else None,
            "path": path,
            "devices": devices,
            "lost_meters": self.lost_meters(),
            "coordination": self.error or (str(self.directory) if self.roles else None),
        }

    def warnings(self) -> list[str]:
        """Lost meters; a coordination failure (``error``) is the caller's to say."""
        said = []
        for entry in self.lost_meters():
            said.append(
                f"the meter of {entry['device']} on node {self.identity.node} (run "
                f"{entry['run_id']}, pid {entry['pid']}) ended without handing over "
                f"(killed?); run {entry['detected_by']} took over. What it measured is in "
                f"its own report (a checkpoint); energy since its last checkpoint is lost."
            )
        return said
