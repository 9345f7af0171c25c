"""Smoke run of benchmarks/bench_explain.py with tiny sizes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_explain.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_explain", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_explain"] = module
    spec.loader.exec_module(module)
    return module


FAST = (
    '{"lemna": {"em_iter": 2, "solver_max_iter": 50}, "lime": {"solver_max_iter": 50}}'
)


# a smoke run caps the solvers' iterations; their convergence is tested elsewhere
@pytest.mark.filterwarnings("ignore::torchxai.ConvergenceWarning")
def test_smoke_run_times_every_method(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    script = load_script()
    script.main(
        [
            "--batches", "1,3", "--n-samples", "140", "--captum-max", "1",
            "--repeats", "1", "--data-dir", str(data_root), "--out", str(out),
            "--method-options", FAST,
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "seconds per explanation" in printed and "captum-lime" in printed
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["torch"]
    rows = {(r["method"], r["batch"]): r for r in result["timings"]}
    assert set(rows) == {(m, b) for m in script.METHODS for b in (1, 3)}
    for (method, batch), row in rows.items():
        expected = 1 if method.startswith("captum") else batch
        assert row["inputs_timed"] == expected
        assert row["seconds_per_explanation"] == pytest.approx(
            row["seconds"] / expected
        )
        assert row["seconds"] > 0
    lemna_ratio = result["ratios_to_captum_lime"]["lemna"]["3"]
    assert lemna_ratio == pytest.approx(
        rows[("lemna", 3)]["seconds_per_explanation"]
        / rows[("captum-lime", 3)]["seconds_per_explanation"]
    )


def test_bad_flags_exit() -> None:
    script = load_script()
    with pytest.raises(SystemExit):
        script.parse_args(["--methods", "shap"])
    with pytest.raises(SystemExit):
        script.parse_args(["--batches", "0"])
