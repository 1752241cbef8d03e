"""Shared fixtures: run the real ``greenmeter`` in a subprocess, isolated from the host.

Subprocesses get the checkout on PYTHONPATH (so tests work without installing) and an
empty powercap root (so no test ever reads the real /sys).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MARKER_CHILD = [sys.executable, "-c", "open('child-ran', 'w').close()"]
"""A command that leaves ``child-ran`` in its directory: proof that it was launched."""


@pytest.fixture
def gm_env(tmp_path):
    empty_powercap = tmp_path / "no-powercap"
    empty_powercap.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENMETER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["GREENMETER_POWERCAP_ROOT"] = str(empty_powercap)
    return env


@pytest.fixture
def greenmeter(tmp_path, gm_env):
    """``greenmeter(*args, env=..., **popen_kwargs)`` -> CompletedProcess, run in tmp_path."""

    def run(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("cwd", tmp_path)
        return subprocess.run(
            [sys.executable, "-m", "greenmeter", *args], env={**gm_env, **(env or {})}, **kwargs
        )

    return run


@pytest.fixture(scope="module")
def fake_lib(tmp_path_factory) -> Path:
    """The fake libnvidia-ml.so.1 (tests/fake_nvml), built once per test module."""
    import fake_nvml

    try:
        return fake_nvml.build(tmp_path_factory.mktemp("fake-nvml"))
    except FileNotFoundError:
        pytest.skip("no C compiler (cc) to build the fake libnvidia-ml.so.1")


def read_report(path: Path) -> dict:
    return json.loads(Path(path).read_text())


class FakeClock:
    """A monotonic clock that moves only when a test sets ``t``."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def assert_refused(proc: subprocess.CompletedProcess, tmp_path: Path, *needles: str) -> None:
    """greenmeter refused before launch: exit 125, one line naming each of ``needles``,
    no traceback, and ``MARKER_CHILD`` never ran."""
    err = proc.stderr.decode()
    assert proc.returncode == 125, err
    assert not (tmp_path / "child-ran").exists(), "the command ran"
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
