"""Kernel-like powercap trees under a temporary directory, and counters that advance.

The layout is the kernel's: flat entries in ``sys/class/powercap`` that are relative
symlinks into ``sys/devices/virtual/powercap/<control type>/...``, subzones nested in their
parent's directory::

    sys/class/powercap/intel-rapl      -> ../../devices/virtual/powercap/intel-rapl
    sys/class/powercap/intel-rapl:0    -> ../../devices/virtual/powercap/intel-rapl/intel-rapl:0
    sys/class/powercap/intel-rapl:0:0  -> ../../devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0

Counters wrap modulo ``max_energy_range_uj`` (values 0 .. range-1), so one wrap adds
exactly the range: the rule the sensor applies. (The kernel's counter tops out at the
range itself, one energy unit, about 61 uJ, more per wrap: far below any tolerance.)

A :class:`CounterDriver` advances counters at known powers, in a thread or, through
``python tests/powercap_tree.py drive ...``, in a separate process (for end-to-end runs of
``python -m greenmeter``). Files are replaced atomically, as a sysfs read is: a reader
never sees half a number.

Unreadable files: ``chmod 000`` blocks a normal user but not root, and tests may run as
root. :func:`emulate_dac_for_root` then makes ``open()`` refuse, with EACCES, files whose
mode grants no read bit, which is what the kernel does for an unprivileged reader.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

REAL_RANGE_UJ = 262143328850
"""max_energy_range_uj of a typical Intel package (32-bit counter x 61.035 uJ)."""


class PowercapTree:
    def __init__(self, base: Path):
        self.base = Path(base)
        self.root = self.base / "sys" / "class" / "powercap"
        self.devices = self.base / "sys" / "devices" / "virtual" / "powercap"
        self.root.mkdir(parents=True, exist_ok=True)
        self.devices.mkdir(parents=True, exist_ok=True)

    def zone_dir(self, zone_id: str) -> Path:
        control, _, path = zone_id.partition(":")
        parts = path.split(":")
        d = self.devices / control
        for i in range(1, len(parts) + 1):
            d = d / f"{control}:{':'.join(parts[:i])}"
        return d

    def add_zone(
        self,
        zone_id: str,
        name: str,
        energy_uj: int | str = 0,
        max_energy_range_uj: int | str | None = REAL_RANGE_UJ,
    ) -> Path:
        """A zone with the files the kernel gives it; ``max_energy_range_uj=None`` leaves
        that file out; strings are written as they are (for garbage contents)."""
        control = zone_id.partition(":")[0]
        control_dir = self.devices / control
        if not control_dir.exists():
            control_dir.mkdir(parents=True)
            (control_dir / "enabled").write_text("1\n")
            os.symlink(os.path.relpath(control_dir, self.root), self.root / control)
        d = self.zone_dir(zone_id)
        d.mkdir(parents=True)
        (d / "name").write_text(f"{name}\n")
        (d / "enabled").write_text("1\n")
        (d / "constraint_0_name").write_text("long_term\n")
        (d / "uevent").write_text("")
        self.write(zone_id, "energy_uj", energy_uj)
        if max_energy_range_uj is not None:
            self.write(zone_id, "max_energy_range_uj", max_energy_range_uj)
        os.symlink(os.path.relpath(d, self.root), self.root / zone_id)
        return d

    def write(self, zone_id: str, filename: str, value: int | str) -> None:
        """Replace a file atomically, keeping its mode (an unreadable file stays so)."""
        target = self.zone_dir(zone_id) / filename
        tmp = target.with_name(f".{filename}.{threading.get_ident()}.tmp")
        tmp.write_text(f"{value}\n" if isinstance(value, int) else value)
        try:
            os.chmod(tmp, stat.S_IMODE(os.lstat(target).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, target)

    def read_energy_uj(self, zone_id: str) -> int:
        return int((self.zone_dir(zone_id) / "energy_uj").read_text())

    def make_unreadable(self, zone_id: str, filename: str = "energy_uj") -> None:
        """As since Linux 5.10 for users (0400 root): here 000, so that root is refused
        too once :func:`emulate_dac_for_root` is on."""
        os.chmod(self.zone_dir(zone_id) / filename, 0)

    def mirror(self, zone_id: str, of: str) -> None:
        """Make ``zone_id`` read the very counter of ``of`` (a mirrored die)."""
        target = self.zone_dir(zone_id) / "energy_uj"
        target.unlink()
        os.symlink(os.path.relpath(self.zone_dir(of) / "energy_uj", target.parent), target)


def single_socket(tree: PowercapTree, range_uj: int = REAL_RANGE_UJ) -> None:
    tree.add_zone("intel-rapl:0", "package-0", 123_456_789, range_uj)


def two_sockets_with_dram(tree: PowercapTree) -> None:
    """A two-socket server: each package with core and dram subzones."""
    for socket, offset in ((0, 10_000_000_000), (1, 150_000_000_000)):
        tree.add_zone(f"intel-rapl:{socket}", f"package-{socket}", offset)
        tree.add_zone(f"intel-rapl:{socket}:0", "core", offset // 2)
        tree.add_zone(f"intel-rapl:{socket}:1", "dram", offset // 3, 65_712_999_613)


def laptop(tree: PowercapTree) -> None:
    """A client CPU: package with core/uncore, psys, and the MMIO second interface."""
    tree.add_zone("intel-rapl:0", "package-0", 5_000_000_000)
    tree.add_zone("intel-rapl:0:0", "core", 2_000_000_000)
    tree.add_zone("intel-rapl:0:1", "uncore", 300_000_000)
    tree.add_zone("intel-rapl:1", "psys", 90_000_000_000)
    tree.add_zone("intel-rapl-mmio:0", "package-0", 5_000_000_000)


class CounterDriver:
    """Advances zones' counters at known powers, every ``period_s``, wrapping at the range.

    With ``busy_marker``, each zone draws ``powers_w`` while that file exists and
    ``idle_powers_w`` otherwise (a command under test creates and removes the file); the
    moments it switched are kept in ``switches`` as (monotonic time, "busy" | "idle").
    Energy is integrated step by step, so the truth between two instants is exact; what a
    reader sees lags it by at most one step (a few millijoules)."""

    def __init__(
        self,
        tree: PowercapTree,
        powers_w: dict[str, float],
        period_s: float = 0.002,
        idle_powers_w: dict[str, float] | None = None,
        busy_marker: Path | None = None,
    ):
        self.tree = tree
        self.powers_w = dict(powers_w)
        self.idle_powers_w = dict(idle_powers_w or powers_w)
        self.busy_marker = busy_marker
        self.period_s = period_s
        self.switches: list[tuple[float, str]] = []
        self._ranges = {
            z: int((tree.zone_dir(z) / "max_energy_range_uj").read_text()) for z in powers_w
        }
        self._energy_uj = {z: float(tree.read_energy_uj(z)) for z in powers_w}
        self._busy = busy_marker is None
        self._last_t = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def step(self) -> None:
        """Bring every counter up to now."""
        with self._lock:
            self._step()

    def _step(self) -> float:
        now = time.monotonic()
        powers = self.powers_w if self._busy else self.idle_powers_w
        for zone, power_w in powers.items():
            self._energy_uj[zone] += power_w * (now - self._last_t) * 1e6
            self.tree.write(zone, "energy_uj", round(self._energy_uj[zone]) % self._ranges[zone])
        self._last_t = now
        if self.busy_marker is not None and self.busy_marker.exists() != self._busy:
            self._busy = not self._busy
            self.switches.append((now, "busy" if self._busy else "idle"))
        return now

    @contextlib.contextmanager
    def frozen(self):
        """Counters brought up to now and held there; yields that instant. For a read
        that must be exact: on a loaded machine the reader can be paused between taking
        the time and reading, while the counters (hardware) go on."""
        with self._lock:
            yield self._step()

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()
            time.sleep(self.period_s)

    def start(self) -> CounterDriver:
        self._last_t = time.monotonic()
        self.step()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> CounterDriver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def spawn_driver(
    tree: PowercapTree,
    powers_w: dict[str, float],
    idle_powers_w: dict[str, float] | None = None,
    busy_marker: Path | None = None,
) -> subprocess.Popen:
    """A :class:`CounterDriver` in its own process (the GIL of a test's process cannot
    slow it); returns once it has written the first values. Stop it with
    :func:`stop_driver`, which returns its switches."""
    idle = idle_powers_w or powers_w
    args = [
        sys.executable,
        __file__,
        "drive",
        str(tree.base),
        str(busy_marker) if busy_marker else "-",
        *(f"{zone}={idle[zone]}:{power}" for zone, power in powers_w.items()),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("counter driver did not start")
    return proc


def stop_driver(proc: subprocess.Popen) -> list[tuple[float, str]]:
    """Stop a driver from :func:`spawn_driver`; its (monotonic time, state) switches."""
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return [(float(t), state) for t, state in (line.split() for line in out.splitlines())]


def emulate_dac_for_root(monkeypatch=None) -> None:
    """Make ``open()`` refuse files with no read bit, as the kernel does for non-root.

    Only when running as root (where ``chmod 000`` does not stop a read); for other users
    the real permission check applies and nothing is patched."""
    if os.geteuid() != 0:
        return
    real_open = builtins.open

    def open_like_a_user(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and "r" in mode:
            try:
                st = os.stat(file)
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode) and not st.st_mode & 0o444:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(file))
        return real_open(file, mode, *args, **kwargs)

    if monkeypatch is not None:
        monkeypatch.setattr(builtins, "open", open_like_a_user)
    else:
        builtins.open = open_like_a_user


def _drive(base: str, marker: str, specs: list[str]) -> None:
    idle, busy = {}, {}
    for spec in specs:
        zone, _, powers = spec.rpartition("=")
        idle[zone], busy[zone] = (float(p) for p in powers.split(":"))
    driver = CounterDriver(
        PowercapTree(Path(base)),
        busy,
        idle_powers_w=idle,
        busy_marker=None if marker == "-" else Path(marker),
    )
    signal.signal(signal.SIGTERM, lambda *_: driver.stop())
    try:  # a busy machine must not delay the counters (they stand for hardware)
        os.nice(-10)
    except OSError:
        pass
    driver.step()
    print("ready", flush=True)
    driver.run()
    for t, state in driver.switches:
        print(f"{t!r} {state}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["drive"]:
        _drive(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1:2] == ["greenmeter-as-user"]:
        # `python tests/powercap_tree.py greenmeter-as-user ARGS...` is `python -m greenmeter
        # ARGS...` with emulate_dac_for_root() on, for the permission path run as root.
        emulate_dac_for_root()
        import runpy

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

        sys.argv = ["greenmeter", *sys.argv[2:]]
        runpy.run_module("greenmeter", run_name="__main__", alter_sys=True)
