"""Benchmark records: the commit stamp marks code changes as -dirty, not appended results."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from irl.records import append_record, cpu_description, git_commit


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


def test_a_copy_without_git_names_its_commit_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree copied to another machine without its .git records the commit it was copied from
    ($IRL_SOURCE_COMMIT); inside a checkout git's answer wins."""
    copy = tmp_path / "copy"
    copy.mkdir()
    monkeypatch.delenv("IRL_SOURCE_COMMIT", raising=False)
    assert git_commit(copy) == "unknown"
    monkeypatch.setenv("IRL_SOURCE_COMMIT", " 0123456789ab\n")
    assert git_commit(copy) == "0123456789ab"
    _git(copy, "init", "-q")  # a checkout: git's answer, not the variable
    _git(copy, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q",
         "--allow-empty", "-m", "init")  # fmt: skip
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=copy,
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert git_commit(copy) == head


def _append_many(path: str, writer: int, n: int) -> None:
    """Append ``n`` records of ~8 KiB each (larger than one buffered write) from one process."""
    for i in range(n):
        append_record(path, {"writer": writer, "i": i, "pad": "x" * 8000}, command="t", commit="c")


@pytest.mark.timeout(60)
def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    """Two processes appending 200 records each leave exactly 400 whole JSON lines."""
    path = tmp_path / "results" / "r.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 200)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 400
    for w in (0, 1):
        assert [r["i"] for r in records if r["writer"] == w] == list(range(200))


def test_same_key_is_appended_once(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    key = "runs/hopper/seed0:1000000"
    first = append_record(path, {"score": 1.0}, command="a", commit="c", key=key)
    again = append_record(path, {"score": 2.0}, command="b", commit="c", key=key)
    other = append_record(path, {"score": 3.0}, command="c", commit="c", key="runs/x:5")
    plain = append_record(path, {"score": 4.0}, command="d", commit="c")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["score"] for r in lines] == [1.0, 3.0, 4.0]
    assert first["record_key"] == key and again == first == lines[0]
    assert other["record_key"] == "runs/x:5" and "record_key" not in plain


def test_append_after_torn_line_keeps_records_whole(tmp_path: Path) -> None:
    """A line torn by a crashed writer does not swallow the next record or block key lookup."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"score": 1.0}\n{"score": 2')
    rec = append_record(path, {"score": 3.0}, command="a", commit="c", key="k")
    assert append_record(path, {"score": 4.0}, command="a", commit="c", key="k") == rec
    lines = path.read_text().splitlines()
    assert lines[1] == '{"score": 2' and json.loads(lines[2]) == rec and len(lines) == 3


def test_records_name_the_cpu_and_its_widest_vector_extension(tmp_path: Path) -> None:
    """Runs of one config differ across CPUs that round differently, so a record names the CPU
    model and its widest vector extension (from a cpuinfo file; ``unknown`` without one)."""
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2\n"
    )
    assert cpu_description(info) == "AMD EPYC 7B13, avx2"
    info.write_text("model name : X\nflags : fpu avx512f avx2\n")
    assert cpu_description(info) == "X, avx512f"
    info.write_text("CPU implementer : 0x41\nFeatures : fp asimd\n")  # arm64: no model name line
    assert cpu_description(info) == "unknown, asimd"
    assert cpu_description(tmp_path / "absent") == "unknown"
    line = append_record(tmp_path / "r.jsonl", {"x": 1}, command="c", commit="abc")
    assert line["cpu"] == cpu_description()
