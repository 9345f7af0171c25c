"""Smoke runs of scripts/reproduce_dmm.py and scripts/reproduce_dmm_men.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")
def test_reproduce_dmm_smoke(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dmm.json"
    load_script("reproduce_dmm").main(
        [
            "--n-inputs", "250", "--steps", "60", "--ks", "2,4",
            "--max-explained", "12", "--lime-samples", "140",
            "--data-dir", str(data_root), "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "DMM on the PDF MLP" in printed and "lime vs random" in printed
    result = json.loads(out.read_text())
    assert not list(tmp_path.glob("*.tmp"))
    summary = result["dmm"]
    assert summary["n_fit"] + summary["n_held_out"] == 250
    assert summary["steps"] == 60
    for key in ("rmse_mixture_mean", "rmse_assigned_component"):
        assert 0.0 <= summary[key] <= 1.0
    assert abs(sum(summary["weights"]) - 1.0) < 1e-5
    assert result["n_explained"] == 12
    for name in ("dmm", "dmm_contribution", "lime"):
        rows = result["fidelity"][name]
        assert [(r["test"], r["k"]) for r in rows] == [
            (t, k) for t in ("deduction", "augmentation", "synthetic") for k in (2, 4)
        ]
        for row in rows:
            assert 0.0 <= row["pcr"] <= 1.0 and row["n_inputs"] == 12
    # the random arm depends only on the seed, not on the explainer
    assert [r["pcr_random"] for r in result["fidelity"]["dmm"]] == [
        r["pcr_random"] for r in result["fidelity"]["lime"]
    ]


@pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")
def test_reproduce_dmm_men_smoke(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_script("reproduce_dmm_men").main(
        [
            "--n-inputs", "150", "--n-pixels", "40", "--n-components", "3",
            "--n-priors", "2", "--steps", "40", "--heatmap-pixels", "20",
            "--rounds", "2", "--n-features", "10",
            "--data-dir", str(data_root), "--out-dir", str(tmp_path),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "class Trouser" in printed and "nullification" in printed
    result = json.loads((tmp_path / "reproduce_dmm_men.json").read_text())
    summary = result["dmm_men"]
    assert summary["n_inputs"] == 150 and summary["steps"] == 40
    assert sum(summary["inputs_per_component"]) == 150
    assert len(summary["prior_assignment"]) == 3
    pngs = [Path(p) for p in result["heatmaps"]]
    assert pngs and all(p.is_file() and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert len(pngs) == sum(1 for c in summary["inputs_per_component"] if c > 0)
    assert set(result["fidelity"]) == {"signed", "abs"}
    fidelity = result["fidelity"]["signed"]
    assert set(fidelity) == {"nullification", "filling", "pathological"}
    for row in fidelity.values():
        assert len(row["accuracy"]) == len(row["accuracy_random"]) == 2
        assert all(0.0 <= a <= 1.0 for a in row["accuracy"] + row["accuracy_random"])
