"""Phases in the history: ``report --group-by phase``, ``compare --phase``, and reports of
schema 1 (no phases) read beside schema 2, checked against figures computed here."""

from __future__ import annotations

import json

import pytest

from synthetic_runs import machine, points, report


def phased_report(run_id: str, decode_j: float, tokens: float, schema: int = 2) -> dict:
    """A run whose report has ``prefill`` and ``decode`` phases (``decode_j`` J, ``tokens``)."""
    comps = machine(gpus=1)
    data = report(comps, points(comps, 10.0, 1.0), run_id=run_id, command=["python", "serve.py"])
    data["schema_version"] = schema
    if schema == 1:
        return data

    def phase(name: str, energy_j: float, units: dict) -> dict:
        return {
            "path": name,
            "name": name,
            "parent": None,
            "count": 4,
            "start_s": 0.0,
            "end_s": 5.0,
            "duration_s": 5.0,
            "energy_j": {"total": energy_j, "cpu": None, "gpu": energy_j, "dram": None},
            "components": [],
            "co2_g": energy_j * 1e-4,
            "units": units,
            "energy_j_per_unit": {u: energy_j / n for u, n in units.items()},
            "energy_per_occurrence_j": None,
            "duration_per_occurrence_s": None,
            "occurrences": [],
            "unclosed": 0,
        }

    data["phases"] = {
        "marks": 16,
        "max_lag_s": 0.0,
        "ignored": [],
        "unmarked": {"duration_s": 0.0, "energy_j": {"total": 0.0}},
        "list": [
            phase("prefill", 100.0, {"requests": 10.0}),
            phase("decode", decode_j, {"tokens": tokens, "requests": 10.0}),
        ],
    }
    return data


def write(directory, reports: list[dict]) -> None:
    directory.mkdir()
    for r in reports:
        (directory / f"{r['run_id']}.json").write_text(json.dumps(r))


def test_report_groups_by_phase_and_reads_schema_1_beside_2(greenmeter, tmp_path):
    write(
        tmp_path / "runs",
        [
            phased_report("20250101T000001Z-00000001", 300.0, 1000.0),
            phased_report("20250101T000002Z-00000002", 500.0, 1000.0),
            phased_report("20250101T000003Z-00000003", 0.0, 0.0, schema=1),
        ],
    )
    runs = greenmeter("report", "runs", "--format", "json")
    assert runs.returncode == 0, runs.stderr
    assert json.loads(runs.stdout)[0]["runs"] == 3 and b"schema" not in runs.stderr
    proc = greenmeter("report", "runs", "--group-by", "phase", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["phase"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"prefill", "decode"}
    decode = rows["decode"]
    assert decode["runs"] == 2 and decode["energy_j_sum"] == pytest.approx(800.0)
    assert decode["energy_j_mean"] == pytest.approx(400.0)
    assert decode["duration_s_sum"] == pytest.approx(10.0)
    assert decode["units_sum"] is None  # two kinds of unit: no single per-unit figure
    assert rows["prefill"]["energy_j_per_unit"] == pytest.approx(100.0 / 10)
    one = greenmeter("report", "runs", "--filter", "phase=decode", "--format", "json")
    assert json.loads(one.stdout)[0]["energy_j_sum"] == pytest.approx(800.0)


def test_compare_one_phase_per_unit_across_two_variants(greenmeter, tmp_path):
    write(
        tmp_path / "a",
        [phased_report(f"20250101T00000{i}Z-0000000{i}", 300.0 + i, 1000.0) for i in range(3)],
    )
    write(
        tmp_path / "b",
        [phased_report(f"20250102T00000{i}Z-0000001{i}", 200.0 + i, 1000.0) for i in range(3)],
    )
    proc = greenmeter(
        "compare", "a", "b", "--phase", "decode", "--unit", "tokens",
        "--metric", "energy-per-unit", "--max-increase", "5%", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = {m["metric"]: m for m in json.loads(proc.stdout)["metrics"]}
    per_token = metrics["energy-per-unit"]
    assert per_token["baseline"]["mean"] == pytest.approx(0.301)
    assert per_token["candidate"]["mean"] == pytest.approx(0.201)
    assert per_token["significant"] is True and per_token["change"] < 0
    missing = greenmeter("compare", "a", "b", "--phase", "nope")
    assert missing.returncode == 125 and b"no finished runs with phase 'nope'" in missing.stderr
