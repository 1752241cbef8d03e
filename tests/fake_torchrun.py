"""torchrun's environment contract without PyTorch (too heavy for CI).

``python tests/fake_torchrun.py --nproc-per-node N [--node-rank R --nnodes M] [--run-id ID]
--no-python CMD ...`` starts N copies of CMD at once with the variables torchrun 2.x
(torch.distributed.run, elastic agent) gives its workers: RANK, LOCAL_RANK, GROUP_RANK,
ROLE_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, ROLE_WORLD_SIZE, GROUP_WORLD_SIZE, MASTER_ADDR,
MASTER_PORT, TORCHELASTIC_RUN_ID (``none`` unless --run-id, torchrun's --rdzv-id default),
TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS, TORCHELASTIC_USE_AGENT_STORE,
OMP_NUM_THREADS. It waits for all, and exits 0 if all did, else 1 (torchrun's
ChildFailedError), after sending SIGTERM to the ones still running, as torchrun does.
``--rank-env NAME=V0,V1,...`` gives local rank i the value Vi of NAME (per-rank
CUDA_VISIBLE_DEVICES, as users write them in a wrapper).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nproc-per-node", type=int, required=True)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--node-rank", type=int, default=0)
    parser.add_argument("--run-id", default="none")
    parser.add_argument("--rank-env", action="append", default=[])
    parser.add_argument("--no-python", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command if args.no_python else [sys.executable, *args.command]
    n, world = args.nproc_per_node, args.nproc_per_node * args.nnodes
    per_rank = {}
    for spec in args.rank_env:
        name, _, values = spec.partition("=")
        per_rank[name] = values.split(",")
    procs = []
    for local in range(n):
        rank = args.node_rank * n + local
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(local),
            "GROUP_RANK": str(args.node_rank),
            "ROLE_RANK": str(rank),
            "ROLE_NAME": "default",
            "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(n),
            "ROLE_WORLD_SIZE": str(world),
            "GROUP_WORLD_SIZE": str(args.nnodes),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "29500",
            "TORCHELASTIC_RUN_ID": args.run_id,
            "TORCHELASTIC_RESTART_COUNT": "0",
            "TORCHELASTIC_MAX_RESTARTS": "0",
            "TORCHELASTIC_USE_AGENT_STORE": "True",
            "OMP_NUM_THREADS": "1",
            **{name: values[local] for name, values in per_rank.items()},
        }
        procs.append(subprocess.Popen(command, env=env))
    failed = False
    while procs:
        for proc in list(procs):
            if proc.poll() is not None:
                procs.remove(proc)
                if proc.returncode != 0 and not failed:
                    failed = True
                    for other in procs:
                        other.send_signal(signal.SIGTERM)
        time.sleep(0.02)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
