"""Fidelity tests on toy models whose answers are known in closed form."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.fidelity import (
    FidelityTable,
    approximation_rmse,
    augmentation_test,
    deduction_test,
    fidelity_table,
    random_features,
    resolve_target,
    synthetic_test,
    target_kept,
    top_k_features,
)

P = 10  # features of the tabular toy
IMPORTANT = (0, 1, 2)


def majority_model(x: Tensor) -> Tensor:
    """Class 1 iff at least two of features 0, 1, 2 are on; the rest is ignored."""
    votes = x[:, list(IMPORTANT)].sum(dim=1)
    return torch.stack([torch.zeros_like(votes), votes - 1.5], dim=1)


def pair_rnn(tokens: Tensor) -> Tensor:
    """(N, L) tokens -> (N, L, 2): position p is class 1 iff tokens p and p+1 are
    both non-padding."""
    nonzero = (tokens != 0).float()
    following = torch.cat([nonzero[:, 1:], torch.zeros_like(nonzero[:, :1])], dim=1)
    both = nonzero * following
    return torch.stack([torch.zeros_like(both), both - 0.5], dim=2)


@dataclass
class StandIn:
    """The two fields the fidelity tests read from an Explanation."""

    scores: Tensor
    target: Any = None
    fit_rmse: Tensor | None = None


def window_mask(positions: Tensor, length: int, half: int) -> Tensor:
    offsets = torch.arange(length)[None, :] - positions[:, None]
    return offsets.abs() <= half


def perfect_scores(n: int) -> Tensor:
    scores = torch.zeros(n, P)
    scores[:, list(IMPORTANT)] = torch.tensor([3.0, 2.0, 1.0])
    return scores


def hypergeom_at_most(
    successes: int, population: int, draws: int, at_most: int
) -> float:
    """P(at most `at_most` of `draws` distinct draws land in `successes` items)."""
    total = math.comb(population, draws)
    return (
        sum(
            math.comb(successes, j) * math.comb(population - successes, draws - j)
            for j in range(0, min(at_most, draws) + 1)
        )
        / total
    )


# ---------------------------------------------------------------------------
# Known answers on the majority toy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 5])
def test_deduction_perfect_drops_to_zero_random_matches_closed_form(k: int) -> None:
    n = 6000
    x = torch.ones(n, P)
    result = deduction_test(majority_model, x, perfect_scores(n), k, target=1, seed=3)
    assert result.pcr_reference == 1.0
    assert result.pcr == 0.0  # two of the three voters removed
    # kept iff at most one of the three voters is among the k random features
    expected = hypergeom_at_most(3, P, k, 1)
    sigma = math.sqrt(expected * (1 - expected) / n)
    assert abs(result.pcr_random - expected) < 4 * sigma + 1e-12
    assert result.pcr_random > 0.5


def test_deduction_random_is_the_seeded_draw_checked_by_hand() -> None:
    n = 50
    x = torch.ones(n, P)
    result = deduction_test(majority_model, x, perfect_scores(n), 3, target=1, seed=11)
    drawn = random_features(x, 3, seed=11).numpy()
    by_hand = np.array([len(set(row) & set(IMPORTANT)) <= 1 for row in drawn])
    np.testing.assert_array_equal(result.kept_random.numpy(), by_hand)
    again = deduction_test(majority_model, x, perfect_scores(n), 3, target=1, seed=11)
    assert torch.equal(again.kept_random, result.kept_random)
    other = deduction_test(majority_model, x, perfect_scores(n), 3, target=1, seed=12)
    assert not torch.equal(other.kept_random, result.kept_random)


@pytest.mark.parametrize("k", [2, 4])
def test_augmentation_perfect_flips_donors_random_matches_closed_form(k: int) -> None:
    n = 6000
    x = torch.ones(n, P)
    donors = torch.zeros(P)  # class 0: no voter on
    result = augmentation_test(
        majority_model, x, perfect_scores(n), k, donors, target=1, seed=5
    )
    assert result.pcr_reference == 0.0
    assert result.pcr == 1.0
    expected = 1 - hypergeom_at_most(3, P, k, 1)  # at least two voters pasted
    sigma = math.sqrt(expected * (1 - expected) / n)
    assert abs(result.pcr_random - expected) < 4 * sigma


def test_synthetic_background_is_configurable() -> None:
    n = 4000
    x = torch.ones(n, P)
    scores = perfect_scores(n)
    zero = synthetic_test(majority_model, x, scores, 2, target=1, seed=0)
    assert (zero.pcr_reference, zero.pcr) == (0.0, 1.0)
    expected = 1 - hypergeom_at_most(3, P, 2, 1)
    assert abs(zero.pcr_random - expected) < 4 * math.sqrt(expected / n)

    # a background that already holds one voter: one more kept voter suffices
    one_voter = torch.zeros(P)
    one_voter[0] = 1.0
    ranked_last = scores.clone()
    ranked_last[:, 0] = -1.0  # the explanation ranks feature 0 last
    shifted = synthetic_test(
        majority_model, x, ranked_last, 1, target=1, background=one_voter
    )
    assert shifted.pcr == 1.0  # keeps feature 1 on top of feature 0

    # per-input backgrounds, e.g. random values as in the paper
    noisy = torch.randint(0, 2, (n, P), generator=torch.Generator().manual_seed(1))
    result = synthetic_test(majority_model, x, scores, 0, target=1, background=noisy)
    by_hand = noisy[:, list(IMPORTANT)].sum(dim=1) >= 2
    assert torch.equal(result.kept, by_hand)


def test_null_value_is_configurable() -> None:
    n = 200
    x = torch.ones(n, P)
    scores = perfect_scores(n)
    unchanged = deduction_test(majority_model, x, scores, 3, target=1, null_value=1.0)
    assert unchanged.pcr == unchanged.pcr_random == 1.0
    per_feature = torch.tensor([0.0, 1.0, 1.0] + [0.0] * (P - 3))
    partly = deduction_test(majority_model, x, scores, 3, null_value=per_feature)
    assert partly.pcr == 1.0  # only feature 0 really goes away


def test_matches_numpy_reimplementation_on_a_random_linear_model() -> None:
    gen = torch.Generator().manual_seed(7)
    n, p, classes, k = 64, 12, 3, 4
    weight = torch.randn(p, classes, generator=gen, dtype=torch.float64)
    x = torch.randn(n, p, generator=gen, dtype=torch.float64)
    donors = torch.randn(n, p, generator=gen, dtype=torch.float64)
    scores = torch.randn(n, p, generator=gen, dtype=torch.float64)  # no ties
    null = torch.randn(p, generator=gen, dtype=torch.float64)

    def model(z: Tensor) -> Tensor:
        return z @ weight

    target = (x @ weight).argmax(1)
    w, xn, dn, sn, nn = (t.numpy() for t in (weight, x, donors, scores, null))
    top = np.argsort(-sn, axis=1, kind="stable")[:, :k]
    rows = np.arange(n)[:, None]

    def kept(z: np.ndarray) -> np.ndarray:
        return (z @ w).argmax(1) == target.numpy()

    deducted = xn.copy()
    deducted[rows, top] = np.broadcast_to(nn, xn.shape)[rows, top]
    pasted = dn.copy()
    pasted[rows, top] = xn[rows, top]
    alone = np.zeros_like(xn)
    alone[rows, top] = xn[rows, top]

    table = fidelity_table(
        model, x, scores, [k], target, donors=donors, null_value=null, seed=0
    )
    np.testing.assert_array_equal(
        table.get("deduction", k).kept.numpy(), kept(deducted)
    )
    np.testing.assert_array_equal(
        table.get("augmentation", k).kept.numpy(), kept(pasted)
    )
    np.testing.assert_array_equal(table.get("synthetic", k).kept.numpy(), kept(alone))
    np.testing.assert_array_equal(
        table.get("augmentation", k).kept_reference.numpy(), kept(dn)
    )
    np.testing.assert_array_equal(
        table.get("synthetic", k).kept_reference.numpy(), kept(np.zeros_like(xn))
    )


# ---------------------------------------------------------------------------
# Sequences: (position, class) targets and window masks
# ---------------------------------------------------------------------------


def test_sequence_window_deduction_and_random_inside_window() -> None:
    n, length, half = 3000, 30, 4
    gen = torch.Generator().manual_seed(2)
    tokens = torch.randint(1, 257, (n, length), generator=gen)
    positions = torch.randint(half, length - half - 1, (n,), generator=gen)
    mask = window_mask(positions, length, half)
    scores = torch.zeros(n, length)
    scores[torch.arange(n), positions] = 2.0
    scores[torch.arange(n), positions + 1] = 1.0
    target = torch.stack([positions, torch.ones_like(positions)], dim=1)
    explanation = StandIn(scores, target)

    result = deduction_test(pair_rnn, tokens, explanation, 1, feature_mask=mask)
    assert result.pcr_reference == 1.0
    assert result.pcr == 0.0
    expected = 1 - 2 / (2 * half + 1)  # one random position of the window
    sigma = math.sqrt(expected * (1 - expected) / n)
    assert abs(result.pcr_random - expected) < 4 * sigma
    drawn = random_features(tokens, 5, mask, seed=0)
    assert bool(mask.gather(1, drawn).all())

    # augmentation: paste into padding-only donors, where nothing is a start
    pasted = augmentation_test(
        pair_rnn,
        tokens,
        explanation,
        2,
        torch.zeros(length, dtype=torch.int64),
        feature_mask=mask,
    )
    assert (pasted.pcr_reference, pasted.pcr) == (0.0, 1.0)
    synthetic = synthetic_test(pair_rnn, tokens, explanation, 2, feature_mask=mask)
    assert synthetic.pcr == 1.0


def test_explanation_feature_map_restricts_selection_to_the_window() -> None:
    n, length, window = 2000, 24, 8
    gen = torch.Generator().manual_seed(4)
    tokens = torch.randint(1, 257, (n, length), generator=gen)
    positions = torch.randint(window, length - window, (n,), generator=gen)
    offsets = torch.arange(length)[None, :] - (positions - window // 2)[:, None]
    feature_map = torch.where((offsets >= 0) & (offsets < window), offsets, -1)
    scores = torch.zeros(n, length)  # all tied: only the window may be chosen
    target = torch.stack([positions, torch.ones_like(positions)], dim=1)
    explanation = Explanation(
        scores=scores,
        method="toy",
        target=target,
        fit_rmse=torch.zeros(n),
        feature_map=feature_map,
    )
    result = deduction_test(pair_rnn, tokens, explanation, 1)
    # one of the `window` positions, two of which (p, p + 1) make the start
    expected = 1 - 2 / window
    for kept in (result.kept, result.kept_random):
        rate = float(kept.float().mean())
        assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    with pytest.raises(InvalidInputError, match="only 8 eligible"):
        deduction_test(pair_rnn, tokens, explanation, window + 1)


def test_segment_features_are_selected_whole() -> None:
    n = 4000
    segments = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    x = torch.ones(n, 4, 4)

    def quadrant_model(z: Tensor) -> Tensor:  # class 1 iff segment 0 is mostly on
        on = z[:, :2, :2].sum(dim=(1, 2))
        return torch.stack([torch.zeros_like(on), on - 1.5], dim=1)

    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(n, 4, 4, generator=gen)
    scores[:, :2, :2] += 1.0  # segment 0 first on average, though not pixelwise
    result = deduction_test(quadrant_model, x, scores, 1, 1, feature_map=segments)
    assert result.pcr == 0.0  # the whole segment is nullified
    expected = 3 / 4
    assert abs(result.pcr_random - expected) < 4 * math.sqrt(expected / 4 / n)
    # feature scores are the means over each segment, checked with numpy
    flat = scores.reshape(n, 16).numpy()
    labels = segments.reshape(16).numpy()
    means = np.stack([flat[:, labels == s].mean(axis=1) for s in range(4)], axis=1)
    top = top_k_features(scores, 4, feature_map=segments)
    np.testing.assert_array_equal(top.numpy(), np.argsort(-means, axis=1))


def test_resolve_target_forms() -> None:
    assert resolve_target(1, 3, 2).tolist() == [[1], [1], [1]]
    assert resolve_target([0, 1, 1], 3, 2).tolist() == [[0], [1], [1]]
    assert resolve_target((7, 1), 2, 3).tolist() == [[7, 1], [7, 1]]
    assert resolve_target([(7, 1), (3, 0)], 2, 3).tolist() == [[7, 1], [3, 0]]
    with pytest.raises(InvalidInputError, match="target has shape"):
        resolve_target([0, 1], 3, 2)
    with pytest.raises(InvalidInputError, match="expected integers"):
        resolve_target(1.0, 3, 2)


def test_target_kept_reads_the_target_position() -> None:
    tokens = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 1]])
    rows = torch.tensor([[0, 1], [0, 1]])
    assert target_kept(pair_rnn, tokens, rows).tolist() == [True, False]
    rows = torch.tensor([[1, 0], [1, 1]])
    assert target_kept(pair_rnn, tokens, rows, batch_size=1).tolist() == [True, True]


# ---------------------------------------------------------------------------
# Selections, tables, RMSE
# ---------------------------------------------------------------------------


def test_top_k_follows_signed_scores_and_breaks_ties_at_random() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(20, P, generator=gen)
    expected = torch.argsort(scores, dim=1, descending=True)[:, :4]
    for seed in (0, 1):
        assert torch.equal(top_k_features(scores, 4, seed=seed), expected)
    flat = torch.zeros(5000, P)
    picks = top_k_features(flat, 2, seed=0)
    counts = torch.bincount(picks.flatten(), minlength=P).double()
    share = counts / counts.sum()
    assert float((share - 1 / P).abs().max()) < 0.01  # not biased to low indices


def test_selections_are_nested_in_k_and_distinct() -> None:
    x = torch.zeros(100, P)
    scores = torch.randint(0, 3, (100, P)).float()  # many ties
    for select in (
        lambda k: top_k_features(scores, k, seed=4),
        lambda k: random_features(x, k, seed=4),
    ):
        small, large = select(3), select(7)
        assert torch.equal(large[:, :3], small)
        assert all(len(set(row.tolist())) == 7 for row in large)


def test_table_rows_equal_single_tests_and_k_zero_is_reference() -> None:
    n = 300
    x = torch.ones(n, P)
    scores = torch.randn(n, P, generator=torch.Generator().manual_seed(9))
    donors = torch.zeros(n, P)
    table = fidelity_table(
        majority_model, x, StandIn(scores, 1), [0, 2, 5], donors=donors, seed=8
    )
    assert isinstance(table, FidelityTable)
    assert [(r.test, r.k) for r in table.results] == [
        (t, k) for t in ("deduction", "augmentation", "synthetic") for k in (0, 2, 5)
    ]
    single = augmentation_test(majority_model, x, scores, 5, donors, 1, seed=8)
    assert table.get("augmentation", 5).to_dict() == single.to_dict()
    for result in table.results:
        if result.k == 0:
            assert result.pcr == result.pcr_random == result.pcr_reference
    assert "augmentation" in table.format()
    only = fidelity_table(majority_model, x, scores, [2], 1)
    assert [r.test for r in only.results] == ["deduction", "synthetic"]


def test_target_defaults_to_prediction_and_single_input() -> None:
    x = torch.tensor([[1.0, 1.0, 0.0] + [0.0] * (P - 3)])
    result = deduction_test(majority_model, x, perfect_scores(1), P)
    assert (result.pcr_reference, result.pcr, result.pcr_random) == (1.0, 0.0, 0.0)


def test_approximation_rmse_summary() -> None:
    values = torch.tensor([0.1, 0.3, float("nan"), 0.2])
    summary = approximation_rmse(StandIn(torch.zeros(4, P), fit_rmse=values))
    finite = np.array([0.1, 0.3, 0.2])
    assert summary["n"] == 3
    assert summary["mean"] == pytest.approx(finite.mean())
    assert summary["std"] == pytest.approx(finite.std())
    assert summary["median"] == pytest.approx(np.median(finite))
    assert (summary["min"], summary["max"]) == pytest.approx((0.1, 0.3))
    empty = approximation_rmse(
        StandIn(torch.zeros(1, P), fit_rmse=torch.tensor([math.nan]))
    )
    assert empty["n"] == 0 and math.isnan(empty["mean"])
    with pytest.raises(InvalidInputError, match="fit_rmse"):
        approximation_rmse(StandIn(torch.zeros(1, P)))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": P + 1}, "eligible features"),
        ({"k": -1}, "k=-1"),
        ({"k": 1.5}, "k=1.5"),
        ({"explanation": torch.zeros(4, P + 1)}, "scores have shape"),
        ({"explanation": torch.full((4, P), math.nan)}, "NaN"),
        ({"feature_mask": torch.ones(4, P)}, "bool tensor"),
        (
            {"feature_mask": torch.ones(3, P, dtype=torch.bool)},
            "feature_mask has shape",
        ),
        ({"feature_mask": torch.zeros(P, dtype=torch.bool), "k": 1}, "only 0 eligible"),
        ({"null_value": torch.zeros(3)}, "null_value has shape"),
        ({"target": [1, 1]}, "target has shape"),
        ({"target": 5}, "target values range"),
        ({"seed": "a"}, "seed="),
        ({"batch_size": 0}, "batch_size=0"),
        ({"x": torch.zeros(P)}, "x has shape"),
        ({"model": "not a model"}, "not callable"),
        ({"model": lambda z: z.sum(1)}, "expected logits"),
    ],
)
def test_deduction_bad_input(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "model": majority_model,
        "x": torch.ones(4, P),
        "explanation": torch.zeros(4, P),
        "k": 2,
        "target": 1,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        deduction_test(**args)


def test_other_bad_input() -> None:
    x = torch.ones(4, P)
    scores = torch.zeros(4, P)
    with pytest.raises(InvalidInputError, match="donors has shape"):
        augmentation_test(majority_model, x, scores, 2, torch.zeros(3, P), 1)
    with pytest.raises(InvalidInputError, match="donors has dtype"):
        augmentation_test(majority_model, x, scores, 2, torch.zeros(P).long(), 1)
    with pytest.raises(InvalidInputError, match="donors=None"):
        fidelity_table(majority_model, x, scores, [1], 1, tests=["augmentation"])
    with pytest.raises(InvalidInputError, match="tests="):
        fidelity_table(majority_model, x, scores, [1], 1, tests=["deletion"])
    with pytest.raises(InvalidInputError, match="ks is empty"):
        fidelity_table(majority_model, x, scores, [], 1)
    tokens = torch.ones(2, 6, dtype=torch.int64)
    with pytest.raises(InvalidInputError, match="non-integer"):
        synthetic_test(pair_rnn, tokens, torch.zeros(2, 6), 1, (0, 1), background=0.5)
    with pytest.raises(InvalidInputError, match="say which"):
        synthetic_test(pair_rnn, tokens, torch.zeros(2, 6), 1)
    with pytest.raises(InvalidInputError, match="feature_map is torch.float32"):
        deduction_test(majority_model, x, scores, 1, 1, feature_map=torch.zeros(P))
    with pytest.raises(InvalidInputError, match="feature_map holds -2"):
        deduction_test(
            majority_model, x, scores, 1, 1, feature_map=torch.full((P,), -2)
        )
    with pytest.raises(InvalidInputError, match="feature_map has shape"):
        deduction_test(
            majority_model, x, scores, 1, 1, feature_map=torch.zeros(3, P).long()
        )


def test_with_explain_output_on_a_planted_sequence_model() -> None:
    import torchxai
    from torchxai.testing import PlantedSequenceModel

    n, window = 2000, 16
    model = PlantedSequenceModel()
    sample = model.sample(n, length=64, seed=0)
    random_expl = torchxai.explain(
        model, sample.inputs, "random", sample.target, output="logits", window=window
    )
    oracle = Explanation(
        scores=sample.relevant.float(),
        method="oracle",
        target=random_expl.target,
        fit_rmse=torch.full((n,), math.nan),
        feature_map=random_expl.feature_map,
    )
    table = fidelity_table(model, sample.inputs, oracle, [1, 4], seed=1)
    assert table.get("deduction", 1).pcr == 0.0  # one pattern byte gone
    assert table.get("synthetic", 4).pcr == 1.0  # the pattern alone on padding
    # 4 pattern bytes among the window's 16 positions
    for pcr in (
        table.get("deduction", 1).pcr_random,
        deduction_test(model, sample.inputs, random_expl, 1).pcr,
    ):
        assert abs(pcr - 0.75) < 4 * math.sqrt(0.75 * 0.25 / n)
    drawn = random_features(sample.inputs, 5, feature_map=random_expl.feature_map)
    assert int(drawn.max()) < window
