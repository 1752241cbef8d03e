"""Which GPUs to measure, whatever their vendor: the ``--gpus`` syntax, and what is said
when a selection names a GPU that no backend has.

Each GPU backend (``nvml.py``, ``amdsmi.py``) resolves the entries it knows and records
the others with the reason it does not know them; ``machine.py`` refuses the selection
only when no backend knows an entry, so ``--gpus 0`` on an AMD machine and on an NVIDIA
machine mean GPU 0 of each, as the command's ``CUDA_VISIBLE_DEVICES=0`` would.
"""

from __future__ import annotations

import re

from greenmeter.sensors.base import SensorUnavailable

_BARE_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
"""amd-smi prints a GPU's UUID without a prefix (8-4-4-4-12 hex digits)."""


class GpuSelectionError(ValueError):
    """``--gpus`` names a GPU that no backend has. A bad option: refuse to launch."""


class NoGpuHere(SensorUnavailable):
    """Nothing to measure rather than something broken: no vendor library, no GPU, or
    none the command may use. Worth a line in ``doctor``, not a warning on every run."""


def parse_gpu_selection(text: str) -> str:
    """Check the syntax of a ``--gpus`` value without touching any GPU library.

    Accepts ``all``, ``none`` or a comma-separated list of GPU indexes (as ``nvidia-smi``
    or ``amd-smi`` number them), ``GPU-`` UUIDs (or unique prefixes), ``MIG-`` device ids
    and amd-smi's bare UUIDs. Returns it normalised (no spaces, lower-case keywords);
    raises ValueError with a one-line message otherwise.
    """
    value = text.strip()
    if value.lower() in ("all", "none"):
        return value.lower()
    tokens = [t.strip() for t in value.split(",")]
    if not value or any(not t for t in tokens):
        raise ValueError(f"{text!r}: expected all, none, or GPU indexes/UUIDs separated by commas")
    for token in tokens:
        if token.isdigit() or (token.startswith(("GPU-", "MIG-")) and len(token) > 4):
            continue
        if _BARE_UUID.fullmatch(token):
            continue
        raise ValueError(
            f"{token!r} is not a GPU index, GPU- UUID or MIG- id (e.g. --gpus 0,2 or --gpus all)"
        )
    return ",".join(tokens)


def is_bare_uuid(token: str) -> bool:
    return _BARE_UUID.fullmatch(token) is not None


def refuse_unknown(selection: str | None, unmatched: list[dict[str, str]]) -> None:
    """Raise :class:`GpuSelectionError` for the first ``--gpus`` entry that every backend
    which sees GPUs left unmatched. ``unmatched`` has one dict per such backend (empty
    where it knew every entry): entry -> why that backend does not know it."""
    if selection in (None, "all", "none") or not unmatched:
        return
    for token in selection.split(","):
        reasons = [found[token] for found in unmatched if token in found]
        if len(reasons) == len(unmatched):
            raise GpuSelectionError(f"{token}: {'; '.join(reasons)}")
