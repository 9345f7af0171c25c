"""Smoke run of benchmarks/bench_dmm.py with tiny sizes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_dmm.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_dmm", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_dmm"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")
def test_smoke_run_writes_timings_and_references(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = torch.get_num_threads()
    out = tmp_path / "bench.json"
    script = load_script()
    try:
        script.main(
            [
                "--sizes", "120,4000", "--truncations", "2", "--steps", "30",
                "--gibbs-iterations", "6", "--gibbs-size", "100",
                "--held-out", "80", "--threads", "1",
                "--data-dir", str(data_root), "--out", str(out),
            ]
        )  # fmt: skip
    finally:
        torch.set_num_threads(before)
    printed = capsys.readouterr().out
    assert "speed-up vs the seed's quoted" in printed and "not re-run" in printed
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["seed_reference"]["quoted_not_rerun"]
    assert [(r["n"], r["truncation"]) for r in result["timings"]] == [
        (120, 2),
        (4000, 2),
    ]
    for row in result["timings"]:
        assert row["seconds"] > 0 and row["steps"] == 30
        assert 0.0 <= row["rmse_mixture_mean"] <= 1.0
    (speedup,) = result["speedup_vs_seed"]
    assert speedup["n"] == 4000
    assert speedup["ratio"] == pytest.approx(2600.0 / result["timings"][1]["seconds"])
    (pair,) = result["gibbs_rmse_reference"]
    assert pair["gibbs"]["iterations"] == 6 and pair["svi"]["n"] == 100


def test_rows_beyond_the_pool_are_resampled_with_flips() -> None:
    script = load_script()
    pool = (
        torch.rand(50, 20, generator=torch.Generator().manual_seed(0)) < 0.5
    ).float()
    rows = script.make_rows(pool, 500, torch.Generator().manual_seed(1), flip=0.05)
    assert rows.shape == (500, 20)
    assert set(rows.unique().tolist()) <= {0.0, 1.0}
    subset = script.make_rows(pool, 30, torch.Generator().manual_seed(1))
    assert all(any(torch.equal(r, p) for p in pool) for r in subset)
