"""Smoke test of scripts/rebalance-pause-bench.py: one short round of each mode (classic range,
classic cooperative-sticky, KIP-848 consumer) on its own broker; it must finish and report a
row per member with values that make sense. No timing threshold: the windows are generous
and only say that every member consumed and the fourth one got partitions at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

from harness import REPO

SCRIPT = REPO / "scripts" / "rebalance-pause-bench.py"
WARMUP_S = 2
MEASURE_S = 12
MODES = ["classic-range", "classic-cooperative", "consumer"]


def test_one_short_round_reports_every_member(workdir):
    out = workdir / "rows.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--rate", "2000",
         "--warmup", str(WARMUP_S), "--measure", str(MEASURE_S), "--heartbeat-ms", "500",
         "--json", str(out)],
        capture_output=True, text=True, timeout=280,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    report = json.loads(out.read_text())
    assert report["panics"] == []
    rows = report["rows"]
    assert sorted((r["mode"], r["member"]) for r in rows) == sorted(
        (mode, f"m{i}") for mode in MODES for i in range(1, 5)), rows
    for r in rows:
        assert r["round"] == 1
        assert r["settled"], f"four members never held every partition: {r}"
        assert r["records"] > 0, f"a member got nothing after the join: {r}"
        assert 0 <= r["gap_after_ms"] <= MEASURE_S * 1000, r
        if r["member"] == "m4":
            assert r["gap_before_ms"] is None, r
            assert r["first_ms"] is not None and 0 <= r["first_ms"] <= MEASURE_S * 1000, r
        else:
            assert r["first_ms"] is None, r
            assert 0 <= r["gap_before_ms"] <= WARMUP_S * 1000, r
    for mode in MODES:
        of_mode = [r for r in rows if r["mode"] == mode]
        assert sum(r["partitions_before"] for r in of_mode) == 12, of_mode
        assert sum(r["partitions_after"] for r in of_mode) == 12, of_mode
        assert all(r["partitions_after"] > 0 for r in of_mode), of_mode
        # Only the eager protocol takes every partition away from the members that stay.
        emptied = {r["member"] for r in of_mode if r["emptied"]}
        assert emptied == ({"m1", "m2", "m3"} if mode == "classic-range" else set()), of_mode
    # The table names every mode.
    for mode in MODES:
        assert mode in run.stdout
