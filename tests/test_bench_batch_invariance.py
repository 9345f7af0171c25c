"""Smoke run of benchmarks/bench_batch_invariance.py, and its comparison helper."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = (
    Path(__file__).resolve().parents[1] / "benchmarks" / "bench_batch_invariance.py"
)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_batch_invariance", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_batch_invariance"] = module
    spec.loader.exec_module(module)
    return module


def test_compare_measures_relative_difference_and_top_k() -> None:
    alone = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, -8.0, 0.5, 0.0]])
    together = alone.clone()
    together[0, 3] += 0.4  # 0.1 of the row's largest score, top 2 unchanged
    together[1, 3] = 2.0  # 0.25 of 8; the top 2 (by signed score) changes
    result = load_script().compare(together, alone, k=2)
    assert result["max_relative_difference"] == pytest.approx(2.0 / 8)
    assert result["bit_identical"] is False
    assert result["same_top_k_share"] == 0.5
    same = load_script().compare(alone, alone.clone(), k=2)
    assert same["bit_identical"] and same["max_relative_difference"] == 0.0


def test_smoke_run_the_mode_is_exact(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "inv.json"
    load_script().main(
        [
            "--n-inputs", "3", "--n-samples", "150", "--methods", "lime",
            "--data-dir", str(data_root), "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "batch_invariant=True takes" in printed
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["n_inputs"] == 3
    default, invariant = result["rows"]
    assert (default["batch_invariant"], invariant["batch_invariant"]) == (False, True)
    assert invariant["bit_identical"] and invariant["max_relative_difference"] == 0.0
    assert invariant["same_top_k_share"] == 1.0
    # without the mode the batch may move the last digits, never the ranking here
    assert default["max_relative_difference"] < 1e-3
    assert invariant["cost_ratio"] == pytest.approx(
        invariant["seconds_per_explanation"] / default["seconds_per_explanation"]
    )
    assert not list(tmp_path.glob("*.tmp"))
