"""benchmarks/run_all.py on fake benchmark scripts: every one runs with the shared
flags, a failure does not stop the others, and a re-run skips finished ones."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_all.py"

WRITES = """\
import argparse, json, pathlib
def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    args, _ = parser.parse_known_args(argv)
    log = pathlib.Path(args.out).parent / "calls.txt"
    with open(log, "a") as stream:
        stream.write(" ".join(argv) + "\\n")
    pathlib.Path(args.out).write_text(json.dumps({"argv": argv}))
    print("comparison table")
"""

FAILS = """\
def main(argv):
    raise ValueError("benchmark broke")
"""


def load_run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all_under_test"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_benchmarks(tmp_path: Path) -> Path:
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "bench_solvers.py").write_text(WRITES)
    (folder / "bench_explain.py").write_text(FAILS)
    return folder  # bench_dmm.py is missing


def test_runs_all_records_failures_and_resumes(
    tmp_path: Path, fake_benchmarks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_all = load_run_all()
    out = tmp_path / "out"
    argv = ["--bench-dir", str(fake_benchmarks), "--out-dir", str(out), "--smoke"]
    assert run_all.main(argv + ["--seed", "4"]) == 1
    printed = capsys.readouterr().out
    assert "comparison table" in printed and "benchmark broke" in printed

    summary = json.loads((out / "summary.json").read_text())
    assert summary["environment"]["device"] == "cpu"
    assert summary["environment"]["torch"] == torch.__version__
    entries = summary["benchmarks"]
    assert list(entries) == list(run_all.BENCHMARKS)
    assert entries["solvers"]["status"] == "ok"
    assert entries["solvers"]["seconds"] > 0
    assert entries["explain"]["status"] == "failed"
    assert "ValueError: benchmark broke" in entries["explain"]["error"]
    assert entries["dmm"]["status"] == "missing"

    written = json.loads((out / "solvers.json").read_text())["argv"]
    expected = ["--out", str(out / "solvers.json"), "--seed", "4", "--device", "cpu"]
    assert written == expected + list(run_all.BENCHMARKS["solvers"].smoke)

    # a re-run skips the finished benchmark; --force runs it again
    assert run_all.main(argv + ["--seed", "4", "--only", "solvers"]) == 0
    assert len((out / "calls.txt").read_text().splitlines()) == 1
    again = json.loads((out / "summary.json").read_text())["benchmarks"]["solvers"]
    assert "finished earlier" in again["skipped"]
    assert run_all.main(argv + ["--seed", "5", "--only", "solvers"]) == 0
    assert len((out / "calls.txt").read_text().splitlines()) == 2  # new arguments
    assert run_all.main(argv + ["--seed", "5", "--only", "solvers", "--force"]) == 0
    assert len((out / "calls.txt").read_text().splitlines()) == 3


def test_list_and_bad_names(
    fake_benchmarks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_all = load_run_all()
    assert run_all.main(["--list", "--bench-dir", str(fake_benchmarks)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["solvers", "bench_solvers.py"]
    assert lines[2].split() == ["dmm", "bench_dmm.py", "(missing)"]
    with pytest.raises(SystemExit):
        run_all.main(["--only", "nope"])
    assert "unknown ['nope']" in capsys.readouterr().err
