"""Benchmark records: the commit stamp marks code changes as -dirty, not appended results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from irl.records import append_record, git_commit


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_commit_stamp_ignores_appended_results_but_not_code(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    results = tmp_path / "benchmarks" / "results" / "x.jsonl"
    results.parent.mkdir(parents=True)
    results.write_text("")
    (tmp_path / "code.py").write_text("a = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    clean = git_commit(tmp_path)
    assert len(clean) == 12 and not clean.endswith("-dirty")
    rec = append_record(results, {"suite": "t"}, command="cmd", commit=git_commit(tmp_path))
    assert json.loads(results.read_text())["commit"] == clean == rec["commit"]
    assert git_commit(tmp_path) == clean  # a record appended by a run is not a code change
    (tmp_path / "code.py").write_text("a = 2\n")
    assert git_commit(tmp_path) == clean + "-dirty"
    assert git_commit(tmp_path / "nowhere") == "unknown"
