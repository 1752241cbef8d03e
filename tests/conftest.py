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
        return subprocess.run([sys.executable, "-m", "greenmeter", *args],
                              env={**gm_env, **(env or {})}, **kwargs)

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
