"""Which job, step, node and rank a ``greenmeter run`` belongs to, read from the
environment its launcher set (SLURM, torchrun, Open MPI, MPICH / Intel MPI).

Launchers nest (``srun torchrun greenmeter run``): the job, step and node come from the
outermost scheduler that names them (SLURM), the rank from the innermost launcher, the one
that started this process (torchrun's ``RANK`` is the global rank; ``SLURM_PROCID`` is then
the node's agent). ``--job`` and ``--node`` override what the environment says, and name a
job for launchers that give it no id that every node shares.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class JobIdentity:
    """Where one rank of a job runs. Unknown parts are None."""

    launcher: str
    """``slurm``, ``torchrun``, ``openmpi``, ``mpich``, nested ones joined by ``+``
    (``slurm+torchrun``), or ``manual`` (only ``--job``/``--node`` given)."""
    job_id: str
    step_id: str | None
    node: str
    rank: int | None
    local_rank: int | None
    world_size: int | None
    local_world_size: int | None
    node_rank: int | None
    job_id_source: str
    """The variable (or option) the job id came from; ``launcher-pid`` when the launcher
    gives none and the id only holds on this node."""

    def as_dict(self) -> dict:
        return {
            "launcher": self.launcher,
            "job_id": self.job_id,
            "job_id_source": self.job_id_source,
            "step_id": self.step_id,
            "node": self.node,
            "rank": self.rank,
            "local_rank": self.local_rank,
            "world_size": self.world_size,
            "local_world_size": self.local_world_size,
            "node_rank": self.node_rank,
        }


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


@dataclass(frozen=True)
class _Seen:
    name: str
    job_id: tuple[str, str] | None  # (value, variable)
    rank: int | None
    local_rank: int | None
    world_size: int | None
    local_world_size: int | None
    node_rank: int | None


def _slurm(env: Mapping[str, str]) -> _Seen | None:
    if "SLURM_JOB_ID" not in env:
        return None
    return _Seen(
        "slurm",
        (env["SLURM_JOB_ID"], "SLURM_JOB_ID"),
        _int(env, "SLURM_PROCID"),
        _int(env, "SLURM_LOCALID"),
        _int(env, "SLURM_NTASKS", "SLURM_NPROCS"),
        _int(env, "SLURM_NTASKS_PER_NODE") if "SLURM_LOCALID" in env else None,
        _int(env, "SLURM_NODEID"),
    )


def _torchrun(env: Mapping[str, str]) -> _Seen | None:
    if "TORCHELASTIC_RUN_ID" not in env and "LOCAL_WORLD_SIZE" not in env:
        return None
    run_id = env.get("TORCHELASTIC_RUN_ID", "")
    # torchrun's default --rdzv-id is "none": the same word in every job, not an id.
    job = (run_id, "TORCHELASTIC_RUN_ID") if run_id and run_id != "none" else None
    return _Seen(
        "torchrun",
        job,
        _int(env, "RANK"),
        _int(env, "LOCAL_RANK"),
        _int(env, "WORLD_SIZE"),
        _int(env, "LOCAL_WORLD_SIZE"),
        _int(env, "GROUP_RANK"),
    )


def _openmpi(env: Mapping[str, str]) -> _Seen | None:
    if "OMPI_COMM_WORLD_RANK" not in env:
        return None
    job = None
    for name in ("OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE"):
        if env.get(name):
            job = (env[name], name)
            break
    return _Seen(
        "openmpi",
        job,
        _int(env, "OMPI_COMM_WORLD_RANK"),
        _int(env, "OMPI_COMM_WORLD_LOCAL_RANK"),
        _int(env, "OMPI_COMM_WORLD_SIZE"),
        _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE"),
        None,
    )


def _mpich(env: Mapping[str, str]) -> _Seen | None:
    if "PMI_RANK" not in env:
        return None
    return _Seen(
        "mpich",
        None,  # Hydra shares no job id through the environment
        _int(env, "PMI_RANK"),
        _int(env, "MPI_LOCALRANKID"),
        _int(env, "PMI_SIZE"),
        _int(env, "MPI_LOCALNRANKS"),
        None,
    )


OUTER_TO_INNER = (_slurm, _openmpi, _mpich, _torchrun)
"""SLURM starts MPI ranks or torchrun agents; mpirun may start torchrun; torchrun starts
the training processes, so its variables, when present, are this process's own."""


def detect_job(
    env: Mapping[str, str],
    hostname: str,
    *,
    job: str | None = None,
    node: str | None = None,
    launcher_pid: int | None = None,
) -> JobIdentity | None:
    """This process's place in a job, or None when no launcher started it and neither
    ``job`` (``--job``) nor ``node`` (``--node``) is given.

    ``launcher_pid`` (default: the parent process) names the job on this node when the
    launcher gives no id (torchrun without ``--rdzv-id``, MPICH): all local ranks of one
    launch share their parent."""
    seen = [s for s in (detect(env) for detect in OUTER_TO_INNER) if s is not None]
    if not seen and job is None and node is None:
        return None
    inner = seen[-1] if seen else None
    names = "+".join(s.name for s in seen) or "manual"
    node_name = node or env.get("SLURMD_NODENAME") or hostname
    job_source = next((s.job_id for s in seen if s.job_id is not None), None)
    if job is not None:
        job_id, source = job, "--job"
    elif job_source is not None:
        job_id, source = job_source
    else:
        pid = os.getppid() if launcher_pid is None else launcher_pid
        job_id, source = f"{names}-{node_name}-{pid}", "launcher-pid"
    slurm = seen[0] if seen and seen[0].name == "slurm" else None
    step = env.get("SLURM_STEP_ID") if slurm is not None else None
    return JobIdentity(
        launcher=names,
        job_id=job_id,
        step_id=step,
        node=node_name,
        rank=inner.rank if inner else None,
        local_rank=inner.local_rank if inner else None,
        world_size=inner.world_size if inner else None,
        local_world_size=inner.local_world_size if inner else None,
        node_rank=next((s.node_rank for s in reversed(seen) if s.node_rank is not None), None),
        job_id_source=source,
    )
