"""Drive the NVML sensor the way the sampler does, in a process whose LD_LIBRARY_PATH
leads pynvml to the fake library. Prints one JSON object on stdout.

    drive_sensor.py run '{"gpus": null, "visible": null, "seconds": 2, "pids_file": null}'
        opens the sensor, starts `sleep SECONDS` as the command, reads at its start, on
        the sensor's schedule while it runs, and at its end.
    drive_sensor.py select '[[gpus, visible], ...]'
        the NVML indexes each selection measures, or the error it gives.
    drive_sensor.py diagnose
"""

import json
import subprocess
import sys
import time

from greenmeter.sensors import nvml
from greenmeter.sensors.base import SensorUnavailable
from greenmeter.sensors.process_tree import ProcessTree


def run(args: dict) -> dict:
    tree = ProcessTree()
    try:
        sensor = nvml.open_nvml(args.get("gpus"), args.get("visible"), tree)
    except SensorUnavailable as exc:
        return {"unavailable": exc.reason, "fix": exc.fix}
    child = subprocess.Popen(["sleep", str(args["seconds"])])
    tree.attach(child.pid)
    if args.get("pids_file"):
        # The command itself is a GPU process on the GPU named in the file's template.
        with open(args["pids_file"], "a") as f:
            f.write(f"{args['own_gpu']} {child.pid}\n")
    first = sensor.read_energy_j()
    last = list(first)
    reads = 1
    interval_s = sensor.max_interval_s() or 0.5
    while child.poll() is None:
        time.sleep(interval_s)
        # Like the sampler: a None keeps the last good figure.
        last = [old if new is None else new for old, new in zip(last, sensor.read_energy_j())]
        reads += 1
    tree.finish(0.0)
    end = sensor.read_energy_j()
    last = [old if new is None else new for old, new in zip(last, end)]
    result = {
        "components": [c.__dict__ for c in sensor.components],
        "energy_j": [b - a for a, b in zip(first, last)],
        "end_read": end,
        "reads": reads + 1,
        "max_interval_s": sensor.max_interval_s(),
        "details": sensor.details(),
        "gauges": [g.__dict__ for g in sensor.gauges],
        "activity": sensor.read_activity(),
        "warnings": sensor.warnings(),
    }
    sensor.close()
    return result


def select(cases: list) -> list:
    found = []
    for gpus, visible in cases:
        try:
            sensor = nvml.open_nvml(gpus, visible, ProcessTree())
        except SensorUnavailable as exc:
            found.append({"unavailable": exc.reason})
            continue
        except nvml.GpuSelectionError as exc:
            found.append({"error": str(exc)})
            continue
        found.append(
            {"indexes": [c.index for c in sensor.components], "warnings": sensor.warnings()}
        )
        sensor.close()
    return found


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "run":
        out = run(json.loads(sys.argv[2]))
    elif mode == "select":
        out = select(json.loads(sys.argv[2]))
    else:
        out = nvml.diagnose()
    json.dump(out, sys.stdout)
