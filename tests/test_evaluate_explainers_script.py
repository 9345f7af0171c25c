"""Smoke run of scripts/evaluate_explainers.py with tiny sizes."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from torchxai.methods import available_methods

pytestmark = pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "evaluate_explainers.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evaluate_explainers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluate_explainers"] = module
    spec.loader.exec_module(module)
    return module


def test_smoke_run_prints_tables_and_writes_json(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results" / "evaluate.json"
    script = load_script()
    result = script.main(
        [
            "--n-inputs", "2", "--planted-inputs", "2", "--n-samples", "150",
            "--stability-runs", "2", "--dmm-steps", "10", "--max-binaries", "1",
            "--n-steps", "5", "--lemna-components", "2", "--em-iter", "3",
            "--data-dir", str(data_root), "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "Planted ground truth" in printed and "Warnecke et al. metrics" in printed
    assert "0.405" in printed  # the paper's LEMNA figure, for orientation
    saved = json.loads(out.read_text())
    assert sorted(p.name for p in out.parent.iterdir()) == ["evaluate.json"]
    assert saved["settings"]["n_inputs"] == 2
    assert set(saved["planted"]) == {"tabular", "sequence", "image"}
    for row in saved["planted"].values():
        for method in ("lemna", "lime", "random"):
            assert 0.0 <= row[method]["recall"] <= 1.0
    dmm_registered = "dmm" in available_methods()
    assert ("recall" in saved["planted"]["sequence"]["dmm"]) == dmm_registered
    assert set(saved["metrics"]) == {"mlp", "rnn"}
    for part in saved["metrics"].values():
        assert part["n_inputs"] == 2
        for method in ("lemna", "lime", "random"):
            row = part["methods"][method]
            assert 0.0 <= row["descriptive_accuracy"] <= 1.0
            assert 0.0 <= row["stability"] <= 1.0
            assert row["seconds_per_input"] > 0.0
    mlp_dmm = saved["metrics"]["mlp"]["methods"]["dmm"]
    assert ("descriptive_accuracy" in mlp_dmm) == dmm_registered, mlp_dmm
    rnn_dmm = saved["metrics"]["rnn"]["methods"]["dmm"]
    assert ("descriptive_accuracy" in rnn_dmm) == dmm_registered, rnn_dmm
    assert result["metrics"]["mlp"]["methods"]["random"] == pytest.approx(
        saved["metrics"]["mlp"]["methods"]["random"]
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--stability-runs", "1"],
        ["--parts", "audio"],
        ["--n-inputs", "0"],
        ["--methods", ""],
    ],
)
def test_bad_flags_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        load_script().parse_args(argv)


def test_json_writer_is_strict_and_atomic(tmp_path: Path) -> None:
    script = load_script()
    path = tmp_path / "x.json"
    script.write_json_atomically({"a": math.nan, "b": [1.0, math.inf]}, path)
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None]}
    with pytest.raises(TypeError):
        script.write_json_atomically({"a": object()}, path)
    assert json.loads(path.read_text()) == {"a": None, "b": [1.0, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
