"""``regression``'s history: the command's own earlier runs, read from the tail of its CSV."""

from __future__ import annotations

import json

from greenmeter.reports.csv_row import COLUMNS, append_row
from greenmeter.results import RunLabels
from greenmeter.run import own_history
from greenmeter.run.own_history import prior_j_per_unit

COMMAND = ["python", "train.py", "--lr", '0.1, "quoted"']


def row(n: int, **changes) -> dict:
    values = dict.fromkeys(COLUMNS, "")
    values.update(
        run_id=f"run-{n}",
        started_at="2025-01-01T00:00:00Z",
        command=json.dumps(COMMAND),
        tags=json.dumps({"model": "m1"}),
        exit_code=0,
        partial=False,
        unit_name="samples",
        energy_j_per_unit=float(n),
    )
    values.update(changes)
    return values


def test_the_latest_matching_runs_oldest_first(tmp_path, monkeypatch):
    history = tmp_path / "runs.csv"
    for n in range(1, 61):
        append_row(history, row(n))
        # Runs that are not this command's history, between its own:
        append_row(history, row(1000 + n, tags=json.dumps({"model": "m2"})))
        append_row(history, row(2000 + n, exit_code=1))
        append_row(history, row(3000 + n, partial=True, exit_code=""))
        append_row(history, row(4000 + n, unit_name="tokens"))
        append_row(history, row(5000 + n, command=json.dumps(["python", "eval.py"])))
    labels = RunLabels("now", COMMAND, tags={"model": "m1"})
    assert prior_j_per_unit(history, labels, "samples", 10) == [float(n) for n in range(51, 61)]
    # Only the end of a long history is read; a row cut by the window is skipped whole.
    size = history.stat().st_size
    monkeypatch.setattr(own_history, "TAIL_BYTES", size // 10 + 7)
    tail = prior_j_per_unit(history, labels, "samples", 1000)
    assert 3 <= len(tail) < 60 and tail == [float(n) for n in range(61 - len(tail), 61)]
    assert prior_j_per_unit(tmp_path / "none.csv", labels, "samples", 10) == []
