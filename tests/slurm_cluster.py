"""A real SLURM cluster of two "nodes" on this machine, started and stopped by a test.

Debian's slurm-wlm 22.05 and munge. Facts behind the choices: /work/shared/notes/
real-services.md. slurmctld and slurmd bind every address whatever slurm.conf says, so the
whole cluster lives in a network namespace of its own with only loopback (127.0.0.1 and
127.0.0.2: slurmctld's getaddrinfo fails with one loopback address only); a process that
does nothing but hold that namespace open is its anchor, and every daemon and client
(``srun``, ``sbatch``, ``scancel``) is entered into it with ``nsenter``. Ports inside the
namespace are its own, so fixed ports collide with nothing on the machine. munged gets
its own key, socket, pid, log and seed under the temporary directory, and SLURM is
pointed at that socket. Every wait is bounded; :meth:`Cluster.stop` kills everything it
started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

CTLD_PORT = 16817
NODE_PORTS = {"n1": 16821, "n2": 16822}
DAEMONS = ("munged", "slurmctld", "slurmd", "unshare", "nsenter", "srun", "sbatch", "scancel")


def missing_programs() -> list[str]:
    return [p for p in DAEMONS if shutil.which(p) is None and not Path(f"/usr/sbin/{p}").exists()]


def _own_netns() -> str:
    return os.readlink("/proc/self/ns/net")


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


SLURM_CONF = """\
ClusterName=greenmeter
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/slurmd-%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
KillWait=5
MessageTimeout=20
InactiveLimit=0
MinJobAge=2
{nodes}
PartitionName=test Nodes={names} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


class Cluster:
    def __init__(self, directory: Path):
        self.dir = directory
        self.conf = directory / "slurm.conf"
        self.munge_socket = directory / "munge" / "munge.socket.2"
        self.anchor: subprocess.Popen | None = None
        self.daemons: list[subprocess.Popen] = []
        self._netns: str | None = None

    # -- the namespace ---------------------------------------------------------------
    def _enter(self) -> list[str]:
        assert self.anchor is not None
        return [_program("nsenter"), f"--net=/proc/{self.anchor.pid}/ns/net", "--"]

    def env(self, extra: dict | None = None) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.conf), **(extra or {})}

    def run(
        self, argv: list[str], env: dict | None = None, **kwargs
    ) -> subprocess.CompletedProcess:
        """A client command (``srun``, ``sbatch``, ``sinfo``...) inside the cluster."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 120)
        return subprocess.run([*self._enter(), *argv], env=self.env(env), **kwargs)

    def popen(self, argv: list[str], env: dict | None = None, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([*self._enter(), *argv], env=self.env(env), **kwargs)

    # -- start and stop --------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> None:
        d = self.dir
        (d / "state").mkdir(parents=True)
        for name in NODE_PORTS:
            (d / f"slurmd-{name}").mkdir()
        munge = d / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        nodes = "\n".join(
            f"NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 Port={port} "
            f"CPUs=2 RealMemory=1000 State=UNKNOWN"
            for name, port in NODE_PORTS.items()
        )
        self.conf.write_text(
            SLURM_CONF.format(
                ctld_port=CTLD_PORT,
                munge_socket=self.munge_socket,
                d=d,
                nodes=nodes,
                names=",".join(NODE_PORTS),
            )
        )
        self.anchor = subprocess.Popen(
            [_program("unshare"), "--net", "--", "sleep", "86400"], start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        # Until unshare has made the namespace, the anchor is in this process's namespace:
        # compare the links themselves ("net:[inode]"), never a resolved path.
        while os.readlink(f"/proc/{self.anchor.pid}/ns/net") == _own_netns():
            if self.anchor.poll() is not None:
                raise RuntimeError(f"unshare --net exited with {self.anchor.returncode}")
            self._check(deadline, "the network namespace")
        self._netns = os.readlink(f"/proc/{self.anchor.pid}/ns/net")
        for step in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"],
        ):
            subprocess.run([*self._enter(), *step], check=True, timeout=30)
        self._daemon(
            [_program("munged"), "--foreground", "--force", f"--socket={self.munge_socket}",
             f"--key-file={key}", f"--pid-file={munge}/munged.pid",
             f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"]
        )  # fmt: skip
        while not self.munge_socket.exists():
            self._check(deadline, "munged")
        self._daemon([_program("slurmctld"), "-D", "-f", str(self.conf)])
        for name in NODE_PORTS:
            self._daemon([_program("slurmd"), "-D", "-f", str(self.conf), "-N", name])
        while True:
            proc = self.run(["sinfo", "-h", "-N", "-o", "%N %t"], timeout=30)
            states = dict(line.split() for line in proc.stdout.splitlines() if line.strip())
            if proc.returncode == 0 and all(
                states.get(n) in ("idle", "mix", "alloc") for n in NODE_PORTS
            ):
                return
            self._check(deadline, f"the nodes ({proc.stdout.strip() or proc.stderr.strip()})")

    def _daemon(self, argv: list[str]) -> None:
        with open(self.dir / f"{Path(argv[0]).name}-{len(self.daemons)}.out", "wb") as log:
            self.daemons.append(
                subprocess.Popen(
                    [*self._enter(), *argv], env=self.env(), stdout=log, stderr=subprocess.STDOUT
                )
            )

    def _check(self, deadline: float, what: str) -> None:
        for daemon in self.daemons:
            if daemon.poll() is not None:
                raise RuntimeError(
                    f"{daemon.args[-1]} exited with {daemon.returncode}: {self.logs()}"
                )
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}: {self.logs()}")
        time.sleep(0.2)

    def logs(self) -> str:
        out = []
        for path in sorted(self.dir.glob("*.log")) + sorted(self.dir.glob("*.out")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(out)

    def _namespace_pids(self) -> list[int]:
        """Every process in the cluster's namespace (daemons, slurmstepd, job steps):
        only this cluster started processes there."""
        if self._netns is None or self._netns == _own_netns():
            return []  # never the machine's own namespace: that is everyone's processes
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if os.readlink(entry / "ns" / "net") == self._netns:
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 2  # then SIGKILL: the tests' jobs are over by now
        for daemon in reversed(self.daemons):
            try:
                daemon.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(timeout=15)
        for pid in self._namespace_pids():  # what the daemons left (e.g. a slurmstepd)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.anchor is not None:
            if self.anchor.poll() is None:
                self.anchor.kill()
            self.anchor.wait(timeout=15)
