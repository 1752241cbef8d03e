"""The command of one rank in the job tests, whatever launched it (SLURM, torchrun, MPI).

``python tests/job_rank.py handover LOCAL_RANKS``: every rank of the node starts while
the node's first meter runs, and the meter's command ends first, so the node is handed
over to ranks still running, however slowly ranks start on a loaded machine. The meter is
the rank whose greenmeter (this process's parent) a node state file in
``$GREENMETER_JOBS_DIR`` names. Markers go in ``marks-<node>/`` of the working directory.

``python tests/job_rank.py signals``: counts SIGUSR1 and SIGTERM; writes ``ready-<rank>``
once its handlers are in place, and on SIGTERM waits a moment (for a copy too many, were
one to come), writes ``signals-<rank>`` (``USR1 TERM`` counts) and exits 143.

Every wait is bounded (30 s).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

WAIT_S = 30.0


def _first(*names: str) -> str | None:
    return next((os.environ[n] for n in names if n in os.environ), None)


def local_rank() -> int:
    return int(
        _first("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
    )


def rank() -> str:
    return _first("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID") or "0"


def node() -> str:
    return _first("GREENMETER_NODE", "SLURMD_NODENAME") or socket.gethostname()


def _wait_for(condition) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def am_meter() -> bool:
    for path in glob.glob(os.path.join(os.environ["GREENMETER_JOBS_DIR"], "*", "node.json")):
        try:
            state = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        if state.get("pid") == os.getppid() and state.get("state") == "measuring":
            return True
    return False


def handover(local_ranks: int) -> None:
    marks = Path(f"marks-{node()}")
    marks.mkdir(exist_ok=True)
    me = local_rank()
    (marks / f"started-{me}").touch()
    if am_meter():
        _wait_for(lambda: len(list(marks.glob("started-*"))) >= local_ranks)
        time.sleep(0.3)
        (marks / "meter-done").touch()
    else:
        _wait_for((marks / "meter-done").exists)
        time.sleep(0.3 + 0.3 * me)


def signals() -> None:
    counts = {"USR1": 0, "TERM": 0}

    def count(signo, frame):
        counts[signal.Signals(signo).name[3:]] += 1

    signal.signal(signal.SIGUSR1, count)
    signal.signal(signal.SIGTERM, count)
    Path(f"ready-{rank()}").touch()
    _wait_for(lambda: counts["TERM"] > 0)
    time.sleep(0.5)
    Path(f"signals-{rank()}").write_text(f"{counts['USR1']} {counts['TERM']}\n")
    sys.exit(143)


if __name__ == "__main__":
    if sys.argv[1] == "handover":
        handover(int(sys.argv[2]))
    else:
        signals()
