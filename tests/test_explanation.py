"""Explanation: ranking, top-k, save/load, JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from torchxai import Explanation
from torchxai.errors import CorruptFileError, InvalidInputError


def _explanation(batch: int = 3, length: int = 8) -> Explanation:
    gen = torch.Generator().manual_seed(0)
    feature_map = torch.full((batch, length), -1, dtype=torch.int64)
    feature_map[:, 2:6] = torch.arange(4)
    coefficients = torch.randn(batch, 2, 4, generator=gen)
    component = torch.tensor([0, 1, 1])[:batch]
    feature_scores = coefficients[torch.arange(batch), component]
    scores = torch.zeros(batch, length)
    scores[:, 2:6] = feature_scores
    return Explanation(
        scores=scores,
        method="lemna",
        target=torch.tensor([[3, 1]] * batch),
        fit_rmse=torch.tensor([0.1, float("nan"), 0.3])[:batch],
        options={"n_components": 2, "lam1": 0.01, "segments": None},
        seed=7,
        feature_map=feature_map,
        feature_scores=feature_scores,
        coefficients=coefficients,
        intercepts=torch.randn(batch, 2, generator=gen),
        mixing_weights=torch.tensor([[0.4, 0.6]] * batch),
        component=component,
        target_probability=torch.rand(batch, generator=gen),
    )


def _assert_same(a: Explanation, b: Explanation) -> None:
    assert a.method == b.method and a.seed == b.seed and a.options == b.options
    for name in (
        "scores",
        "target",
        "fit_rmse",
        "feature_map",
        "feature_scores",
        "coefficients",
        "intercepts",
        "mixing_weights",
        "component",
        "target_probability",
    ):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert left.dtype == right.dtype, name
            assert torch.equal(left.nan_to_num(-99.0), right.nan_to_num(-99.0)), name


def test_ranking_puts_features_first_by_descending_score() -> None:
    exp = _explanation()
    ranking = exp.ranking()
    for row in range(3):
        scores = exp.scores[row].numpy()
        inside = np.arange(2, 6)
        expected_inside = inside[np.argsort(-scores[inside], kind="stable")]
        expected = np.concatenate([expected_inside, [0, 1, 6, 7]])
        assert ranking[row].tolist() == expected.tolist()


def test_ranking_without_feature_map_is_a_stable_descending_sort() -> None:
    scores = torch.tensor([[0.0, 2.0, 0.0, -1.0, 2.0]])
    exp = Explanation(
        scores=scores, method="x", target=torch.tensor([0]), fit_rmse=torch.zeros(1)
    )
    assert exp.ranking().tolist() == [[1, 4, 0, 2, 3]]
    assert exp.top_k(2).tolist() == [[1, 4]]


def test_top_k_and_its_mask() -> None:
    exp = _explanation()
    top = exp.top_k(3)
    assert top.shape == (3, 3)
    assert torch.equal(top, exp.ranking()[:, :3])
    mask = exp.top_k_mask(3)
    assert mask.shape == exp.scores.shape and mask.sum().item() == 9
    for row in range(3):
        assert set(torch.nonzero(mask[row]).flatten().tolist()) == set(
            top[row].tolist()
        )


@pytest.mark.parametrize("k", [0, 9, -1, 2.0, True])
def test_top_k_refuses_bad_k(k: object) -> None:
    with pytest.raises(InvalidInputError, match="k must be an integer"):
        _explanation().top_k(k)  # type: ignore[arg-type]


def test_rows_must_match_the_batch() -> None:
    with pytest.raises(InvalidInputError, match="fit_rmse"):
        Explanation(
            scores=torch.zeros(2, 4),
            method="x",
            target=torch.zeros(2),
            fit_rmse=torch.zeros(3),
        )


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    exp = _explanation()
    path = tmp_path / "exp.pt"
    exp.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["exp.pt"]  # no temporary file left
    _assert_same(exp, Explanation.load(path))


def test_save_and_load_without_surrogate(tmp_path: Path) -> None:
    exp = Explanation(
        scores=torch.rand(2, 3),
        method="random",
        target=torch.tensor([1, 0]),
        fit_rmse=torch.full((2,), float("nan")),
    )
    exp.save(tmp_path / "r.pt")
    _assert_same(exp, Explanation.load(tmp_path / "r.pt"))


def test_save_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "exp.pt"
    path.write_bytes(b"old")
    _explanation().save(path)
    _assert_same(_explanation(), Explanation.load(path))


def test_save_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        _explanation().save(tmp_path / "missing" / "exp.pt")


def test_load_refuses_other_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch archive")
    with pytest.raises(CorruptFileError, match="not a saved Explanation"):
        Explanation.load(garbage)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CorruptFileError, match="not a saved Explanation"):
        Explanation.load(other)
    with pytest.raises(FileNotFoundError):
        Explanation.load(tmp_path / "absent.pt")


def test_load_refuses_missing_tensors(tmp_path: Path) -> None:
    exp = _explanation()
    path = tmp_path / "exp.pt"
    exp.save(path)
    payload = torch.load(path, weights_only=True)
    del payload["tensors"]["scores"]
    torch.save(payload, path)
    with pytest.raises(CorruptFileError, match="scores"):
        Explanation.load(path)


def test_to_dict_is_strict_json() -> None:
    exp = _explanation()
    data = exp.to_dict()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["fit_rmse"][1] is None
    assert math.isclose(back["fit_rmse"][0], 0.1, rel_tol=1e-6)
    np.testing.assert_allclose(np.array(back["scores"]), exp.scores.numpy(), rtol=1e-6)
    assert back["target"] == exp.target.tolist()
    assert back["method"] == "lemna" and back["seed"] == 7
