"""Tests of torchxai.evaluation against scikit-learn metrics on the same predictions."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)
from torch import nn

from torchxai.datasets import (
    list_byteweight_binaries,
    load_contagio,
    load_fashion_mnist,
    load_function_start_windows,
)
from torchxai.errors import InvalidInputError
from torchxai.evaluation import (
    accuracy,
    binary_precision_recall_f1,
    evaluate_fashion_cnn,
    evaluate_function_start_rnn,
    evaluate_pdf_mlp,
    evaluate_ported_models,
    predict_classes,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "evaluate_models.py"


@pytest.fixture(scope="module")
def root() -> Path:
    return Path(os.environ["TORCHXAI_DATA"])


def _sklearn_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    return {
        "precision": precision_score(true, pred, zero_division=0),
        "recall": recall_score(true, pred, zero_division=0),
        "f1": f1_score(true, pred, zero_division=0),
        "accuracy": accuracy_score(true, pred),
    }


def _assert_scores_match(got: dict[str, float], pred: np.ndarray, true: np.ndarray):
    expected = _sklearn_scores(pred, true)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    true = (rng.random((40, 25)) < 0.2).astype(np.int64)
    pred = np.where(rng.random(true.shape) < 0.8, true, 1 - true)
    mask = rng.random(true.shape) < 0.7

    got = binary_precision_recall_f1(torch.from_numpy(pred), torch.from_numpy(true))
    _assert_scores_match(got, pred.ravel(), true.ravel())
    tn, fp, fn, tp = confusion_matrix(true.ravel(), pred.ravel()).ravel()
    assert (got["tp"], got["fp"], got["fn"], got["tn"]) == (tp, fp, fn, tn)

    masked = binary_precision_recall_f1(pred, true, torch.from_numpy(mask))
    _assert_scores_match(masked, pred[mask], true[mask])
    assert masked["n"] == mask.sum()
    assert accuracy(pred, true) == pytest.approx(
        accuracy_score(true.ravel(), pred.ravel())
    )


def test_scores_degenerate_inputs():
    zeros = torch.zeros(10, dtype=torch.int64)
    got = binary_precision_recall_f1(zeros, zeros)
    _assert_scores_match(got, zeros.numpy(), zeros.numpy())
    assert got["precision"] == got["recall"] == got["f1"] == 0.0
    assert got["accuracy"] == 1.0

    all_wrong = binary_precision_recall_f1(torch.ones(4, dtype=torch.bool), zeros[:4])
    _assert_scores_match(all_wrong, np.ones(4, int), np.zeros(4, int))

    empty = torch.zeros(0, dtype=torch.int64)
    assert math.isnan(accuracy(empty, empty))
    assert binary_precision_recall_f1(empty, empty)["n"] == 0


def test_scores_bad_inputs():
    with pytest.raises(InvalidInputError, match="same shape"):
        accuracy(torch.zeros(3, dtype=torch.int64), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(InvalidInputError, match="predictions.*float32"):
        accuracy(torch.zeros(3), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(InvalidInputError, match="mask"):
        binary_precision_recall_f1(np.zeros(3, int), np.zeros(3, int), np.ones(3))


def test_predict_classes_matches_direct_forward():
    model = nn.Linear(6, 4)
    x = torch.randn(37, 6)
    with torch.no_grad():
        expected = model(x).argmax(dim=1)
    for batch_size in (1, 5, 100):
        assert torch.equal(predict_classes(model, x, batch_size=batch_size), expected)
    assert torch.equal(predict_classes(model.double(), x), expected)  # input cast
    with pytest.raises(InvalidInputError, match="batch_size"):
        predict_classes(model, x, batch_size=0)


def test_small_pdf_mlp_evaluation_matches_sklearn(root):
    from torchxai.models import load_pdf_mlp

    data = load_contagio(root)
    rows = torch.cat([torch.arange(150), torch.arange(5000, 5150)])
    small = data.subset(rows)
    model = load_pdf_mlp(data_dir=root)

    binary = (small.features.numpy() != 0).astype(np.float32)
    with torch.no_grad():
        pred = model(torch.from_numpy(binary)).argmax(dim=1).numpy()
    got = evaluate_pdf_mlp(model, small)
    assert got["n"] == 300
    _assert_scores_match(got, pred, small.labels.numpy())


def test_small_cnn_evaluation_matches_sklearn(root):
    from torchxai.models import load_fashion_cnn

    images = load_fashion_mnist("test", root).subset(torch.arange(300))
    model = load_fashion_cnn(data_dir=root)
    with torch.no_grad():
        pred = model(images.images).argmax(dim=1).numpy()
    true = images.labels.numpy()

    got = evaluate_fashion_cnn(model, images, batch_size=64)
    assert got["accuracy"] == pytest.approx(accuracy_score(true, pred), abs=1e-12)
    per_class = recall_score(true, pred, average=None, labels=list(range(10)))
    np.testing.assert_allclose(got["per_class_accuracy"], per_class, atol=1e-12)


def test_small_rnn_evaluation_matches_sklearn(root):
    from torchxai.models import load_function_start_rnn

    binaries = sorted(list_byteweight_binaries(root), key=lambda p: p.stat().st_size)
    windows = load_function_start_windows(binaries[:2])
    model = load_function_start_rnn(data_dir=root)
    with torch.no_grad():
        pred = model(windows.tokens).argmax(dim=-1)

    got = evaluate_function_start_rnn(model, windows, test_binaries=[1], batch_size=50)
    real = (windows.tokens != 0).numpy()
    _assert_scores_match(got["all"], pred.numpy()[real], windows.labels.numpy()[real])

    in_test = (windows.binary_index == 1).numpy()[:, None] & real
    _assert_scores_match(
        got["test_split"], pred.numpy()[in_test], windows.labels.numpy()[in_test]
    )
    assert got["test_split"]["windows"] == int((windows.binary_index == 1).sum())
    assert got["all"]["f1"] > 0.9  # the ported model does label function starts


def test_script_smoke_run(tmp_path, root, capsys):
    spec = importlib.util.spec_from_file_location("evaluate_models", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    out = tmp_path / "figures" / "evaluation.json"
    argv = ["--data-dir", str(root), "--out", str(out), "--max-binaries", "2"]
    results = script.main([*argv, "--max-images", "200"])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(results))
    assert written["fashion_cnn"]["n"] == 200
    assert written["pdf_mlp"]["all_rows"]["n"] == 9999
    assert written["function_start_rnn"]["all"]["binaries"] == 2
    assert written["function_start_rnn_fixed"]["test_split"]["binaries"] == 1
    assert "PDF MLP" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["evaluation.json"]  # no temp


def test_evaluate_ported_models_rejects_bad_limits(root):
    with pytest.raises(InvalidInputError, match="max_binaries"):
        evaluate_ported_models(root, max_binaries=1)
    with pytest.raises(InvalidInputError, match="max_images"):
        evaluate_ported_models(root, max_images=0)
