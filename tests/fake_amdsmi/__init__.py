"""Build the fake libamd_smi.so from the installed ``amdsmi`` bindings.

The bindings bind every symbol of the library when they are imported, and their ctypes
structures define the memory the library fills. Nothing of either is written down here:

1. the bound symbol names are read from the bindings' wrapper module (``amdsmi_wrapper.py``,
   found without importing it) and compiled into a library of weak stubs that answer
   NOT_SUPPORTED;
2. the real bindings, loaded in a subprocess onto that stub library, report the size and
   field offsets of the structures the fake fills (``layout.h``);
3. ``fake_amdsmi.c`` is compiled with the stubs and that header: its strong definitions
   replace the stubs of the functions greenmeter calls.

The truth is the same as for the fake NVML library: ``fake_nvml.Profile`` integrates the
power profiles exactly, and the library logs the instant of every read (``FAKE_AMDSMI_LOG``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fake_nvml import Profile

SOURCE = Path(__file__).with_name("fake_amdsmi.c")
LIBRARY = "libamd_smi.so"

# Structure (ctypes name in amdsmi_wrapper) -> the fields fake_amdsmi.c fills.
STRUCTURES = {
    "power": ("amdsmi_power_info_t", ["socket_power", "current_socket_power",
              "average_socket_power", "gfx_voltage", "soc_voltage", "mem_voltage",
              "power_limit"]),
    "power_cap": ("amdsmi_power_cap_info_t", ["power_cap", "default_power_cap"]),
    "engine": ("amdsmi_engine_usage_t", ["gfx_activity", "umc_activity", "mm_activity"]),
    "vram": ("amdsmi_vram_usage_t", ["vram_total", "vram_used"]),
    "proc": ("amdsmi_proc_info_t", ["name", "pid"]),
    "asic": ("amdsmi_asic_info_t", ["market_name", "vendor_id", "vendor_name", "device_id",
             "asic_serial", "oam_id", "num_of_compute_units"]),
    "enumeration": ("amdsmi_enumeration_info_t", ["drm_render", "drm_card", "hsa_id",
                    "hip_id", "hip_uuid"]),
    "kfd": ("amdsmi_kfd_info_t", ["kfd_id", "node_id", "current_partition_id"]),
    "driver": ("amdsmi_driver_info_t", ["driver_version", "driver_name"]),
    "metrics": ("amdsmi_gpu_metrics_t", ["accumulation_counter", "ppt_residency_acc",
                "socket_thm_residency_acc"]),
}  # fmt: skip

_LAYOUT_SCRIPT = """
import ctypes, json, sys
from amdsmi import amdsmi_wrapper as w
structures = json.loads(sys.argv[1])
out = {}
for key, (name, fields) in structures.items():
    struct = getattr(w, name)
    out[f"SIZE_{key}"] = ctypes.sizeof(struct)
    for field in fields:
        out[f"OFF_{key}_{field}"] = getattr(struct, field).offset
        out[f"LEN_{key}_{field}"] = getattr(struct, field).size
for field in ("function_number", "device_number", "bus_number", "domain_number"):
    bdf = w.amdsmi_bdf_t()
    setattr(bdf.struct_amdsmi_bdf_t, field, 1)
    out[f"BDF_SHIFT_{field}"] = bdf.as_uint.bit_length() - 1
json.dump(out, sys.stdout)
"""


def bindings_dir() -> Path | None:
    """The installed ``amdsmi`` package's folder, found without importing it."""
    spec = importlib.util.find_spec("amdsmi")
    return None if spec is None or spec.origin is None else Path(spec.origin).parent


def bound_symbols(package: Path) -> list[str]:
    """Every library symbol the bindings bind at import, from their wrapper's source."""
    source = (package / "amdsmi_wrapper.py").read_text()
    return sorted(set(re.findall(r"_libraries\['libamd_smi\.so'\]\.(\w+)", source)))


def build(directory: Path) -> Path:
    """Compile the fake as ``directory/lib/libamd_smi.so``; returns ``directory``, the
    value for ROCM_PATH (``directory/lib`` is the one for LD_LIBRARY_PATH).

    Raises FileNotFoundError without a C compiler or without the amdsmi bindings."""
    compiler = shutil.which("cc")
    if compiler is None:
        raise FileNotFoundError("cc")
    package = bindings_dir()
    if package is None:
        raise FileNotFoundError("the amdsmi bindings (pip install amdsmi)")
    lib = directory / "lib"
    stage = directory / "stubs-only"
    for folder in (lib, stage):
        folder.mkdir(parents=True, exist_ok=True)
    stubs = directory / "stubs.c"
    stubs.write_text(
        "/* Generated from the amdsmi bindings: every symbol they bind at import. */\n"
        + "".join(
            f"__attribute__((weak)) int {name}(void) {{ return 2; /* NOT_SUPPORTED */ }}\n"
            for name in bound_symbols(package)
        )
    )
    _compile(compiler, stage / LIBRARY, [stubs])
    env = {k: v for k, v in os.environ.items() if k not in ("ROCM_HOME", "ROCM_PATH")}
    env["LD_LIBRARY_PATH"] = str(stage)
    layout = json.loads(
        subprocess.run(
            [sys.executable, "-c", _LAYOUT_SCRIPT, json.dumps(STRUCTURES)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    (directory / "layout.h").write_text(
        "/* Generated from the amdsmi bindings' ctypes structures. */\n"
        + "".join(f"#define {name} {value}\n" for name, value in sorted(layout.items()))
    )
    _compile(compiler, lib / LIBRARY, [SOURCE, stubs], include=directory)
    return directory


def _compile(compiler: str, output: Path, sources: list[Path], include: Path | None = None):
    command = [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(output)]
    if include is not None:
        command += ["-I", str(include)]
    subprocess.run([*command, *map(str, sources), "-lm"], check=True)


def read_times(log: Path, index: int, call: str) -> list[float]:
    """The instants greenmeter made ``call`` ("energy" or "power") on logical GPU ``index``."""
    times = []
    for line in log.read_text().splitlines():
        time_s, logged_call, logged_index, _ = line.split()
        if logged_call == call and int(logged_index) == index:
            times.append(float(time_s))
    return times


def truth_j(log: Path, index: int, call: str, profile: str) -> float:
    """Joules the fake GPU drew between greenmeter's first and last ``call`` on logical
    GPU ``index``, skipping the probe the sensor makes when it opens (before the command)."""
    times = read_times(log, index, call)[1:]
    return Profile.parse(profile).between_j(times[0], times[-1])
