"""The planted-ground-truth models of torchxai.testing and top_k_recall.

Each model is checked against a numpy re-implementation of its documented rule,
and its ground truth by perturbation: changing any element outside the relevant
set leaves the output bit-identical, changing a relevant one moves it. The recall
is checked against closed forms and a Monte Carlo simulation of random
tie-breaking written here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import torchxai
from torchxai.errors import InvalidInputError, TorchXAIError
from torchxai.explanation import Explanation
from torchxai.testing import (
    PROLOGUE_PATTERN,
    PlantedImageModel,
    PlantedSequenceModel,
    PlantedTabularModel,
    top_k_recall,
)

pytestmark = pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")


def _explanation(scores: torch.Tensor, feature_map: torch.Tensor | None = None):
    batch = scores.shape[0]
    return Explanation(
        scores=scores,
        method="test",
        target=torch.zeros(batch, dtype=torch.int64),
        fit_rmse=torch.full((batch,), math.nan),
        feature_map=feature_map,
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------- tabular


def test_tabular_matches_numpy_formula() -> None:
    model = PlantedTabularModel(12, relevant=(1, 5, 9), scale=4.0)
    x = torch.rand(30, 12, dtype=torch.float64)
    w = model.weights.double().numpy()
    share = x.numpy() @ w / w.sum()
    expected = _sigmoid(4.0 * (share - 0.5))
    got = model.predict_proba(x)[:, 1].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert set(np.flatnonzero(w)) == {1, 5, 9}
    assert ((w[[1, 5, 9]] >= 0.5) & (w[[1, 5, 9]] <= 1.5)).all()


def test_tabular_output_depends_exactly_on_relevant_columns() -> None:
    model = PlantedTabularModel(15, n_relevant=4, seed=3)
    sample = model.sample(8, seed=1)
    base = model(sample.inputs)
    for column in range(15):
        changed = sample.inputs.clone()
        changed[:, column] = 1.0 - changed[:, column]
        moved = (model(changed) != base).any(dim=1)
        if column in model.relevant_features:
            assert moved.all()
        else:
            assert not moved.any()
    assert sample.relevant[0].nonzero().flatten().tolist() == list(
        model.relevant_features
    )


def test_tabular_sample_is_class_one_with_relevant_columns_on() -> None:
    model = PlantedTabularModel(10, relevant=(0, 3))
    sample = model.sample(6, seed=0)
    assert set(sample.inputs.unique().tolist()) <= {0.0, 1.0}
    assert (sample.inputs[:, [0, 3]] == 1).all()
    np.testing.assert_allclose(
        model.predict_proba(sample.inputs)[:, 1].numpy(), _sigmoid(3.0), rtol=1e-6
    )
    assert sample.target.tolist() == [1] * 6
    assert torch.equal(sample.inputs, model.sample(6, seed=0).inputs)
    assert not torch.equal(sample.inputs, model.sample(6, seed=1).inputs)


def test_tabular_seed_draws_columns_reproducibly() -> None:
    a = PlantedTabularModel(50, n_relevant=5, seed=7)
    b = PlantedTabularModel(50, n_relevant=5, seed=7)
    c = PlantedTabularModel(50, n_relevant=5, seed=8)
    assert a.relevant_features == b.relevant_features
    assert len(set(a.relevant_features)) == 5
    assert torch.equal(a.weights, b.weights)
    assert a.relevant_features != c.relevant_features


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_features": 0},
        {"n_features": 5, "relevant": (5,)},
        {"n_features": 5, "relevant": (1, 1)},
        {"n_features": 5, "relevant": ()},
        {"n_features": 5, "relevant": (True,)},
        {"n_features": 5, "relevant": (1.5,)},
        {"n_features": 5, "relevant": 3},
        {"n_features": 5, "n_relevant": 6},
        {"n_features": 5, "scale": 0.0},
        {"n_features": 5, "scale": math.nan},
        {"n_features": 5, "seed": -1},
    ],
)
def test_tabular_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        PlantedTabularModel(**kwargs)


@pytest.mark.parametrize(
    "x",
    [torch.zeros(3, 4), torch.zeros(5), torch.zeros(3, 5, dtype=torch.int64), [1.0]],
)
def test_tabular_bad_inputs(x: object) -> None:
    with pytest.raises(InvalidInputError):
        PlantedTabularModel(5, relevant=(1,))(x)


# -------------------------------------------------------------------- sequence


def _numpy_sequence_logit(tokens: np.ndarray, pattern, scale: float) -> np.ndarray:
    n, length = tokens.shape
    matches = np.zeros((n, length))
    for row in range(n):
        for t in range(length):
            for offset, byte in pattern:
                where = t + offset
                if 0 <= where < length and tokens[row, where] == byte + 1:
                    matches[row, t] += 1
    return scale * (matches - (len(pattern) - 0.5))


def test_sequence_matches_numpy_rule() -> None:
    model = PlantedSequenceModel()
    sample = model.sample(4, length=30, seed=2)
    tokens = sample.inputs.clone()
    tokens[0, :4] = torch.tensor([0x55, 0x89, 0xE5, 0x00]) + 1  # pattern at 0, no ret
    tokens[1, -2:] = torch.tensor([0xC3, 0x55]) + 1  # cut off by the end
    expected = _numpy_sequence_logit(tokens.numpy(), PROLOGUE_PATTERN, 8.0)
    logits = model(tokens)
    np.testing.assert_allclose(logits[..., 1].numpy(), expected, rtol=1e-6)
    assert (logits[..., 0] == 0).all()


def test_sequence_fires_at_planted_position_only_through_the_pattern() -> None:
    model = PlantedSequenceModel()
    sample = model.sample(6, length=40, seed=5)
    rows = torch.arange(6)
    positions = sample.target[:, 0]
    proba = model.predict_proba(sample.inputs)[rows, positions, 1]
    np.testing.assert_allclose(proba.numpy(), _sigmoid(4.0), rtol=1e-6)
    assert sample.target[:, 1].tolist() == [1] * 6
    assert sample.relevant.sum(dim=1).tolist() == [4] * 6
    base = model(sample.inputs)[rows, positions]
    for where in range(40):
        changed = sample.inputs.clone()
        changed[:, where] = 0  # padding matches no byte
        moved = (model(changed)[rows, positions] != base).any(dim=1)
        assert torch.equal(moved, sample.relevant[:, where])
        dropped = model.predict_proba(changed)[rows, positions, 1] < 0.5
        assert torch.equal(dropped, sample.relevant[:, where])


def test_sequence_custom_pattern_and_edges() -> None:
    model = PlantedSequenceModel([(2, 0x90), (3, 0x90)], scale=2.0)
    assert model.relevant_features == (2, 3)
    assert model.min_length == 4
    sample = model.sample(20, length=4, seed=0)
    assert (sample.target[:, 0] == 0).all()
    mask = model.relevant_mask(sample.inputs, torch.tensor([3] * 20))
    assert not mask.any()  # offsets 2 and 3 past position 3 fall outside
    with pytest.raises(InvalidInputError):
        model.sample(2, length=3)
    for positions in (torch.tensor([0.0] * 20), torch.tensor([0]), [0] * 20):
        with pytest.raises(InvalidInputError):
            model.relevant_mask(sample.inputs, positions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "pattern",
    [[], [(0, 256)], [(0, -1)], [(0, 1), (0, 2)], [(0.5, 1)], "ab", [(1,)]],
)
def test_sequence_bad_pattern(pattern: object) -> None:
    with pytest.raises(InvalidInputError):
        PlantedSequenceModel(pattern)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tokens",
    [
        torch.zeros(2, 5),
        torch.zeros(2, 5, dtype=torch.bool),
        torch.full((2, 5), 257),
        torch.full((2, 5), -1),
        torch.zeros(2, 5, 1, dtype=torch.int64),
        np.zeros((2, 5), dtype=np.int64),
    ],
)
def test_sequence_bad_tokens(tokens: object) -> None:
    with pytest.raises(InvalidInputError):
        PlantedSequenceModel()(tokens)


def test_sequence_empty_length_gives_empty_output() -> None:
    out = PlantedSequenceModel()(torch.zeros(3, 0, dtype=torch.int64))
    assert out.shape == (3, 0, 2)


# ----------------------------------------------------------------------- image


def test_image_matches_numpy_mean_and_depends_only_on_region() -> None:
    model = PlantedImageModel(6, 7, region=(1, 2, 3, 2), threshold=0.4, scale=5.0)
    x = torch.rand(5, 6, 7, dtype=torch.float64)
    expected = _sigmoid(5.0 * (x.numpy()[:, 1:4, 2:4].mean(axis=(1, 2)) - 0.4))
    np.testing.assert_allclose(model.predict_proba(x)[:, 1].numpy(), expected)
    base = model(x)
    for i in range(6):
        for j in range(7):
            changed = x.clone()
            changed[:, i, j] += 0.25
            moved = bool((model(changed) != base).any())
            assert moved == (1 <= i < 4 and 2 <= j < 4)
    flat = {i * 7 + j for i in range(1, 4) for j in range(2, 4)}
    assert set(model.relevant_features) == flat


def test_image_channels_and_sample() -> None:
    model = PlantedImageModel(9, 9, seed=4)
    top, left, rows, cols = model.region
    assert (rows, cols) == (3, 3) and top + rows <= 9 and left + cols <= 9
    sample = model.sample(3, channels=2, seed=1)
    assert sample.inputs.shape == (3, 2, 9, 9)
    assert sample.relevant.shape == (3, 2, 9, 9)
    assert int(sample.relevant[0].sum()) == 2 * 9
    region = sample.inputs[:, :, top : top + rows, left : left + cols]
    np.testing.assert_allclose(
        model.predict_proba(sample.inputs)[:, 1].numpy(),
        _sigmoid(12.0 * (region.mean(dim=(1, 2, 3)).numpy() - 0.5)),
        rtol=1e-5,
    )
    assert (model.predict_proba(sample.inputs)[:, 1] > 0.9).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"region": (0, 0, 0, 1)},
        {"region": (7, 0, 2, 1)},
        {"region": (0, 0, 1)},
        {"region": (-1, 0, 1, 1)},
        {"region": (0.0, 0, 1, 1)},
        {"height": 0},
        {"threshold": "high"},
    ],
)
def test_image_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        PlantedImageModel(**{"height": 8, "width": 8, **kwargs})


@pytest.mark.parametrize(
    "x",
    [torch.zeros(2, 8, 9), torch.zeros(8, 8), torch.zeros(2, 8, 8, dtype=torch.int32)],
)
def test_image_bad_inputs(x: torch.Tensor) -> None:
    with pytest.raises(InvalidInputError):
        PlantedImageModel()(x)


# ---------------------------------------------------------------------- recall


def test_recall_of_oracle_and_of_reversed_scores() -> None:
    relevant = torch.zeros(3, 10, dtype=torch.bool)
    relevant[:, [1, 4, 8]] = True
    oracle = relevant.double() + 0.01 * torch.rand(3, 10, dtype=torch.float64)
    assert top_k_recall(oracle, relevant).tolist() == [1.0] * 3
    assert top_k_recall(-oracle, relevant).tolist() == [0.0] * 3
    assert top_k_recall(-oracle, relevant, k=8).tolist() == [pytest.approx(1 / 3)] * 3


def test_recall_counts_ties_by_their_chance() -> None:
    """All-tied scores give k/n whatever the element order; checked against a
    Monte Carlo simulation of random tie-breaking."""
    relevant = torch.zeros(1, 12, dtype=torch.bool)
    relevant[0, :3] = True  # first elements: a stable sort would favour them
    assert top_k_recall(torch.zeros(1, 12), relevant, k=4).item() == pytest.approx(
        4 / 12
    )
    scores = torch.tensor([[3.0, 1, 1, 1, 0, 0, 2, 1, 1, 0, 0, 0]])
    rng = np.random.default_rng(0)
    draws = 20000
    hits = 0.0
    s = scores.numpy()[0]
    for _ in range(draws):
        order = np.lexsort((rng.random(12), -s))
        hits += relevant.numpy()[0, order[:4]].sum() / 3
    got = top_k_recall(scores, relevant, k=4).item()
    assert got == pytest.approx(hits / draws, abs=0.01)
    assert got == pytest.approx((1 + 2 * (2 / 5)) / 3)  # closed form


def test_recall_leaves_out_elements_outside_the_features() -> None:
    scores = torch.tensor([[0.0, 0.0, 5.0, 1.0]])
    feature_map = torch.tensor([[-1, 0, -1, 1]])
    relevant = torch.tensor([[False, False, True, True]])
    expl = _explanation(scores, feature_map)
    # element 2 scores highest but is not a feature: it ranks last
    assert top_k_recall(expl, relevant, k=1).item() == pytest.approx(0.5)
    assert top_k_recall(scores, relevant, k=1).item() == pytest.approx(0.5)
    assert top_k_recall(expl, relevant, k=2).item() == pytest.approx(0.5)


def test_recall_of_lemna_and_lime_on_planted_tabular_model() -> None:
    model = PlantedTabularModel(12, relevant=(2, 6, 9))
    sample = model.sample(3, seed=0)
    for method in ("lemna", "lime"):
        expl = torchxai.explain(
            model,
            sample.inputs,
            method,
            target=sample.target,
            output="logits",
            n_samples=200,
            **({"n_components": 2, "em_iter": 10} if method == "lemna" else {}),
        )
        assert (top_k_recall(expl, sample.relevant) == 1).all(), method


def test_recall_of_random_method_is_chance_on_average() -> None:
    model = PlantedSequenceModel()
    sample = model.sample(200, length=50, seed=1)
    expl = torchxai.explain(
        model, sample.inputs, "random", target=sample.target, output="logits"
    )
    recall = top_k_recall(expl, sample.relevant)
    expected = 4 / 40  # 4 relevant positions among the 40 of the window
    sd = math.sqrt(expected * (1 - expected) / 200)  # loose: hypergeometric sd smaller
    assert abs(float(recall.mean()) - expected) < 4 * sd


@pytest.mark.parametrize(
    "args",
    [
        (torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.bool), None),
        (torch.zeros(2, 4), torch.ones(2, 4), None),
        (torch.zeros(2, 4), torch.ones(2, 5, dtype=torch.bool), None),
        (torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.bool), 0),
        (torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.bool), 5),
        (torch.full((2, 4), math.nan), torch.ones(2, 4, dtype=torch.bool), 1),
        ([[0.0]], torch.ones(1, 1, dtype=torch.bool), 1),
    ],
)
def test_recall_bad_arguments(args: tuple) -> None:
    with pytest.raises(TorchXAIError):
        top_k_recall(*args)


def test_recall_shared_mask_broadcasts() -> None:
    scores = torch.arange(8.0).reshape(2, 4)
    shared = torch.tensor([False, False, True, True])
    assert top_k_recall(scores, shared).tolist() == [1.0, 1.0]
