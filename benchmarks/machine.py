"""What every benchmark prints first (the machine it ran on), how to run greenmeter from
this checkout the way an installed copy runs, and CodeCarbon 3.3.2 in a throw-away venv
for the side-by-side figures."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GREENMETER = [sys.executable, "-m", "greenmeter"]
CODECARBON_VERSION = "3.3.2"


def describe() -> str:
    def read(path: str) -> str:
        try:
            return Path(path).read_text(errors="replace")
        except OSError:
            return ""

    cpuinfo = read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    vm = " (virtual machine)" if re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.M) else ""
    mem = re.search(r"^MemTotal:\s*(\d+)", read("/proc/meminfo"), re.M)
    memory = f", {int(mem.group(1)) / 2**20:.1f} GiB RAM" if mem else ""
    return (
        f"machine: {model.group(1) if model else platform.machine()}{vm}, "
        f"{os.cpu_count()} logical CPUs{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.2f} at start"
    )


def greenmeter_env(**extra: str) -> dict[str, str]:
    """Environment for ``python -m greenmeter`` from this checkout: the repo on
    PYTHONPATH, no GREENMETER_* settings from the caller, and bytecode caching on (in a
    private directory, so the checkout stays clean), as for an installed package, whose
    .pyc files pip writes at install time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENMETER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "greenmeter-bench-pycache")
    env.update(extra)
    return env


def codecarbon_venv(where: Path | None) -> Path | None:
    """A venv with codecarbon==3.3.2: ``where`` if it already has it, else created there
    (or in a temporary directory). Returns its bin directory, or None after saying why."""
    where = where or Path(tempfile.mkdtemp(prefix="codecarbon-venv-"))
    bin_dir = where / "bin"
    if (bin_dir / "codecarbon").exists():
        return bin_dir
    print(
        f"installing codecarbon=={CODECARBON_VERSION} into {where} (once; pass "
        f"--codecarbon-venv {where} to reuse it)...",
        file=sys.stderr,
        flush=True,
    )
    try:
        venv.create(where, with_pip=True)
        subprocess.run(
            [
                str(bin_dir / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                f"codecarbon=={CODECARBON_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        print(
            f"CodeCarbon not available, its rows are left out: {exc} "
            f"{detail.decode(errors='replace')[-300:]}",
            file=sys.stderr,
        )
        return None
    return bin_dir
