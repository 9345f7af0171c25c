"""Smoke run of benchmarks/bench_solvers.py with tiny sizes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_solvers.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_solvers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_solvers"] = module
    spec.loader.exec_module(module)
    return module


def test_smoke_run_compares_with_cvxpy_and_scikit_learn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("cvxpy")
    pytest.importorskip("sklearn")
    out = tmp_path / "bench.json"
    script = load_script()
    script.main(
        [
            "--batch", "3", "--sizes", "40x8", "--cvxpy-problems", "2",
            "--sklearn-problems", "2", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "cvxpy-clarabel" in printed and "scikit-learn" in printed
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["torch"]
    rows = {row["problem"]: row for row in result["results"]}
    assert set(rows) == {"fused_lasso", "elastic_net"}
    for row in rows.values():
        assert (row["n"], row["p"], row["batch"]) == (40, 8, 3)
        assert row["reference_problems"] == 2
        assert row["torchxai_seconds_per_problem"] > 0
        assert row["speedup"] > 0
        # both solvers reach the same optimum up to their tolerances
        assert abs(row["rel_objective_gap_max"]) < 1e-4
        assert row["converged_fraction"] == 1.0


def test_run_all_smoke_arguments_are_accepted(tmp_path: Path) -> None:
    # benchmarks/run_all.py passes --problems, --sizes NxP, --repeats, --seed, --device
    script = load_script()
    args = script.parse_args(
        ["--problems", "1,4", "--sizes", "50x20", "--repeats", "1", "--seed", "3"]
    )
    assert args.batches == [1, 4] and args.shapes == [(50, 20)]
    with pytest.raises(SystemExit):
        script.parse_args(["--sizes", "50"])
