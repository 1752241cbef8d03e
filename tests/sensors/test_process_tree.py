"""The process tree read from /proc: every descendant (also those started by a non-main
thread), the same processes and figures as psutil's whole-machine walk, and the fallback
walk for kernels without ``children`` files."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from greenmeter.sensors import process_tree
from greenmeter.sensors.process_tree import ProcessTree

PY = sys.executable
# The command starts one child from its main thread and one from another thread; each
# child starts a grandchild. All of them sleep until the test kills the group.
FAMILY = """\
import subprocess, sys, threading, time
grand = [sys.executable, "-c", "import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"]
subprocess.Popen(grand)
# A live thread: once it ends, the kernel hands its children to the main thread.
threading.Thread(target=lambda: (subprocess.Popen(grand), time.sleep(60)), daemon=True).start()
time.sleep(60)
"""


@pytest.fixture
def family():
    proc = subprocess.Popen([PY, "-c", FAMILY], start_new_session=True)
    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + 30
    while len(root.children(recursive=True)) < 4:
        assert time.monotonic() < deadline, "the family never grew to 5 processes"
        time.sleep(0.05)
    yield proc
    for child in root.children(recursive=True):
        child.kill()
    proc.kill()
    proc.wait()


def _psutil_pids(pid: int) -> set[int]:
    root = psutil.Process(pid)
    return {pid} | {c.pid for c in root.children(recursive=True)}


def test_walk_finds_every_descendant(family):
    tree = ProcessTree()
    tree.attach(family.pid)
    pids = tree.pids()
    assert len(pids) == 5 and pids == _psutil_pids(family.pid)
    cpu_s, rss_b = tree.usage()
    assert cpu_s > 0 and rss_b > 5 * 1_000_000  # five Python interpreters


def test_kernels_without_children_files_fall_back_to_psutil(family, monkeypatch):
    monkeypatch.setattr(process_tree, "_child_pids", lambda pid: None)
    tree = ProcessTree()
    tree.attach(family.pid)
    assert tree.pids() == _psutil_pids(family.pid)
    assert tree._children_files is False


def test_figures_match_psutil(family):
    tree = ProcessTree()
    tree.attach(family.pid)
    procs = [psutil.Process(pid) for pid in _psutil_pids(family.pid)]
    before = sum(sum(p.cpu_times()) for p in procs)
    cpu_s, rss_b = tree.usage()
    after = sum(sum(p.cpu_times()) for p in procs)
    assert before - 0.011 <= cpu_s <= after + 0.011  # one clock tick either side
    assert rss_b == pytest.approx(sum(p.memory_info().rss for p in procs), rel=0.05)
    tree.finish(12.5)
    assert tree.cpu_seconds() == 12.5 and tree.pids() == set() and tree.rss_bytes() == 0
