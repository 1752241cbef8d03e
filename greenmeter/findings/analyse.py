"""Every finding of one run: a pure function of its result and, for ``regression``, the
energy per unit of the command's earlier runs. Largest energy at stake first, the
``power-capped`` and ``thermal`` findings last."""

from __future__ import annotations

from greenmeter.findings import gpu as gpu_findings
from greenmeter.findings.draft import Draft
from greenmeter.findings.regression import regression
from greenmeter.findings.spans import busy_cores, gpu_timelines
from greenmeter.findings.thresholds import DEFAULT_THRESHOLDS, Thresholds
from greenmeter.results import Finding, RunResult

THROTTLE_IDS = ("power-capped", "thermal")
FINDING_IDS = (
    "idle-gpu",
    "unused-gpu",
    "input-bound",
    "small-batch",
    "power-capped",
    "thermal",
    "cpu-only",
    "regression",
)


def analyse(
    result: RunResult,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    prior_j_per_unit: list[float] | None = None,
) -> list[Finding]:
    t = thresholds
    gpus = gpu_timelines(result)
    cpu = busy_cores(result)
    drafts: list[Draft | None] = []
    only_cpu = gpu_findings.cpu_only(gpus, cpu, t)
    if only_cpu is not None:
        drafts.append(only_cpu)  # says all that unused-gpu and idle-gpu would
    else:
        drafts.append(gpu_findings.unused_gpus(gpus, t))
        for g in gpus:
            if gpu_findings.is_unused(g, t):
                continue
            drafts += [
                gpu_findings.idle_gpu(g, t),
                gpu_findings.input_bound(g, cpu, t),
                gpu_findings.small_batch(g, t),
            ]
    for g in gpus:
        drafts += [gpu_findings.throttled(g, kind, t) for kind in gpu_findings.THROTTLES]
    if prior_j_per_unit:
        drafts.append(regression(result, prior_j_per_unit, t))
    total_j = result.energy_j["total"]
    g_per_j = result.carbon.co2_g / total_j if total_j else 0.0
    findings = [
        Finding(
            id=d.id,
            summary=d.summary,
            evidence=d.evidence,
            energy_at_stake_j=round(d.energy_at_stake_j, 3),
            co2_at_stake_g=round(d.energy_at_stake_j * g_per_j, 6),
            what_to_try=d.what_to_try,
        )
        for d in drafts
        if d is not None and d.energy_at_stake_j >= t.min_at_stake_j
    ]
    # Time at a power or thermal limit is not waste in itself: those come after the rest.
    return sorted(findings, key=lambda f: (f.id in THROTTLE_IDS, -f.energy_at_stake_j))
