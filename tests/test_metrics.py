"""The security-evaluation metrics of torchxai.metrics against independent references.

Descriptive accuracy is recomputed in numpy for a logistic model; sparsity against
a binned histogram in the style of Warnecke et al.; the tie rule of the top-k sets
against a Monte Carlo simulation; stability of the random method against its
expectation k / p.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from torchxai import metrics
from torchxai.errors import InvalidInputError, TorchXAIError
from torchxai.explanation import Explanation
from torchxai.testing import PlantedSequenceModel, PlantedTabularModel

pytestmark = pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")


def _explanation(
    scores: torch.Tensor,
    target: torch.Tensor | None = None,
    feature_map: torch.Tensor | None = None,
) -> Explanation:
    batch = scores.shape[0]
    return Explanation(
        scores=scores,
        method="test",
        target=torch.ones(batch, dtype=torch.int64) if target is None else target,
        fit_rmse=torch.full((batch,), math.nan),
        feature_map=feature_map,
    )


class _Logistic(torch.nn.Module):
    """p(class 1 | x) = sigmoid(x @ w + b); returns probabilities."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(x @ self.w + self.b)
        return torch.stack([1 - p, p], dim=1)


# ------------------------------------------------------------------ top-k sets


def test_inclusion_without_ties_is_the_top_k_indicator() -> None:
    scores = torch.randn(5, 9, dtype=torch.float64)
    got = metrics.top_k_inclusion(scores, 3)
    expected = torch.zeros(5, 9, dtype=torch.float64)
    expected.scatter_(1, scores.argsort(dim=1, descending=True)[:, :3], 1.0)
    assert torch.equal(got, expected)


def test_inclusion_with_ties_matches_monte_carlo() -> None:
    scores = torch.tensor([[2.0, 1, 1, 1, 1, 0, 0, 3], [0, 0, 0, 0, 0, 0, 0, 0]])
    k = torch.tensor([3, 5])
    got = metrics.top_k_inclusion(scores, k).numpy()
    rng = np.random.default_rng(1)
    counts = np.zeros((2, 8))
    draws = 20000
    for _ in range(draws):
        for row in range(2):
            order = np.lexsort((rng.random(8), -scores[row].numpy()))
            counts[row, order[: int(k[row])]] += 1
    np.testing.assert_allclose(got, counts / draws, atol=0.015)
    np.testing.assert_allclose(got.sum(axis=1), [3, 5])
    np.testing.assert_allclose(got[0], [1, 0.25, 0.25, 0.25, 0.25, 0, 0, 1])


def test_inclusion_ranks_ineligible_elements_last() -> None:
    scores = torch.tensor([[9.0, 1.0, 2.0]])
    eligible = torch.tensor([[False, True, True]])
    assert metrics.top_k_inclusion(scores, 2, eligible).tolist() == [[0.0, 1.0, 1.0]]


@pytest.mark.parametrize(
    "k", [0, 4, 1.5, True, torch.tensor([1]), torch.tensor([0.5, 1])]
)
def test_inclusion_bad_k(k: object) -> None:
    with pytest.raises(InvalidInputError):
        metrics.top_k_inclusion(torch.zeros(2, 3), k)  # type: ignore[arg-type]


def test_overlap_against_set_intersections() -> None:
    runs = [torch.randn(6, 15) for _ in range(4)]
    got = metrics.top_k_overlap([_explanation(s) for s in runs], k=5)
    tops = [set_.argsort(dim=1, descending=True)[:, :5].numpy() for set_ in runs]
    expected = np.zeros(6)
    for a, b in itertools.combinations(tops, 2):
        expected += [len(set(x) & set(y)) / 5 for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(got.numpy(), expected / 6)


def test_overlap_identical_and_disjoint() -> None:
    scores = torch.arange(10.0).repeat(2, 1)
    same = metrics.top_k_overlap([_explanation(scores)] * 3, k=4)
    apart = metrics.top_k_overlap([_explanation(scores), _explanation(-scores)], k=4)
    assert same.tolist() == [1.0, 1.0]
    assert apart.tolist() == [0.0, 0.0]


def test_overlap_bad_arguments() -> None:
    e = _explanation(torch.zeros(2, 4))
    with pytest.raises(InvalidInputError):
        metrics.top_k_overlap([e], k=2)
    with pytest.raises(InvalidInputError):
        metrics.top_k_overlap([e, _explanation(torch.zeros(2, 5))], k=2)
    with pytest.raises(InvalidInputError):
        metrics.top_k_overlap([e, e], k=5)
    with pytest.raises(InvalidInputError):
        metrics.top_k_overlap([e, "not an explanation"], k=1)  # type: ignore[list-item]


# --------------------------------------------------------- descriptive accuracy


def _numpy_da(x, w, b, scores, steps, fill=0.0):
    """The DA curve of a logistic model, written from the definition."""
    curves = []
    for row in range(x.shape[0]):
        order = np.argsort(-scores[row], kind="stable")
        current = x[row].copy()
        values = [1 / (1 + np.exp(-(current @ w + b)))]
        for k in range(steps):
            current[order[k]] = fill
            values.append(1 / (1 + np.exp(-(current @ w + b))))
        curves.append(values)
    curves = np.array(curves)
    auc = np.trapezoid(curves, dx=1.0 / steps, axis=1)
    return curves, auc


def test_descriptive_accuracy_matches_numpy() -> None:
    w = torch.randn(12, dtype=torch.float64)
    model = _Logistic(w, 0.3)
    x = torch.rand(7, 12, dtype=torch.float64) + 0.5
    scores = torch.randn(7, 12, dtype=torch.float64)  # distinct: no ties
    result = metrics.descriptive_accuracy(model, x, _explanation(scores), n_steps=8)
    curve, auc = _numpy_da(x.numpy(), w.numpy(), 0.3, scores.numpy(), 8)
    np.testing.assert_allclose(result.curve.numpy(), curve, rtol=1e-10)
    np.testing.assert_allclose(result.auc.numpy(), auc, rtol=1e-10)
    assert result.n_removed.tolist() == [8] * 7


def test_descriptive_accuracy_with_baseline_and_logits() -> None:
    w = torch.randn(6, dtype=torch.float64)
    probabilities = _Logistic(w, -0.2)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return torch.log(probabilities(x))

    x = torch.rand(4, 6, dtype=torch.float64)
    scores = torch.randn(4, 6, dtype=torch.float64)
    fill = torch.full((6,), 0.5, dtype=torch.float64)
    a = metrics.descriptive_accuracy(
        probabilities, x, _explanation(scores), baseline=fill
    )
    b = metrics.descriptive_accuracy(
        logits, x, _explanation(scores), baseline=fill, output="logits"
    )
    curve, _ = _numpy_da(x.numpy(), w.numpy(), -0.2, scores.numpy(), 6, fill=0.5)
    np.testing.assert_allclose(a.curve.numpy(), curve, rtol=1e-10)
    np.testing.assert_allclose(b.curve.numpy(), curve, rtol=1e-10)
    assert a.curve.shape == (4, 7)  # n_steps capped at the 6 features


def test_descriptive_accuracy_ties_use_a_seeded_order() -> None:
    model = PlantedTabularModel(10, relevant=(0, 1, 2))
    sample = model.sample(1, seed=0)
    flat = _explanation(torch.zeros(1, 10), target=sample.target)
    runs = [
        metrics.descriptive_accuracy(
            model, sample.inputs, flat, n_steps=3, output="logits", seed=s
        ).curve
        for s in range(8)
    ]
    assert torch.equal(
        runs[0],
        metrics.descriptive_accuracy(
            model, sample.inputs, flat, n_steps=3, output="logits", seed=0
        ).curve,
    )
    assert len({tuple(r[0].tolist()) for r in runs}) > 1  # ties are shuffled


def test_descriptive_accuracy_of_oracle_on_planted_sequence() -> None:
    model = PlantedSequenceModel()
    sample = model.sample(5, length=30, seed=2)
    scores = sample.relevant.double()
    oracle = _explanation(scores, target=sample.target)
    worst = _explanation(-scores, target=sample.target)
    good = metrics.descriptive_accuracy(model, sample.inputs, oracle, output="logits")
    bad = metrics.descriptive_accuracy(model, sample.inputs, worst, output="logits")
    np.testing.assert_allclose(
        good.curve[:, 0].numpy(), 1 / (1 + math.exp(-4)), rtol=1e-6
    )
    assert (good.curve[:, 1] < 0.05).all()  # one pattern byte gone: no start
    assert (good.auc < bad.auc).all()
    assert (bad.curve[:, 26] > 0.9).all()  # the 26 irrelevant bytes go first


def test_descriptive_accuracy_uses_feature_map() -> None:
    """Elements of one feature are removed together; non-features never."""
    w = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    model = _Logistic(w, 0.0)
    x = torch.ones(1, 4, dtype=torch.float64)
    feature_map = torch.tensor([[0, 0, -1, 1]])
    scores = torch.tensor([[2.0, 2.0, 9.0, 1.0]], dtype=torch.float64)
    expl = _explanation(scores, feature_map=feature_map)
    result = metrics.descriptive_accuracy(model, x, expl, n_steps=5)
    expected = 1 / (1 + np.exp(-np.array([4.0, 2.0, 1.0])))
    np.testing.assert_allclose(result.curve[0].numpy(), expected)
    assert result.n_removed.tolist() == [2]


def test_descriptive_accuracy_bad_arguments() -> None:
    model = _Logistic(torch.ones(3), 0.0)
    x = torch.ones(2, 3)
    e = _explanation(torch.zeros(2, 3))
    cases = [
        dict(inputs=torch.ones(3, 3)),
        dict(n_steps=0),
        dict(output="softmax"),
        dict(baseline=torch.zeros(4)),
        dict(baseline=math.nan),
        dict(explanation=_explanation(torch.full((2, 3), math.nan))),
        dict(explanation=_explanation(torch.zeros(2, 3), target=torch.tensor([0, 5]))),
        dict(
            explanation=_explanation(torch.zeros(2, 3), target=torch.zeros(2, 2).long())
        ),
        dict(explanation="scores"),
    ]
    for case in cases:
        args = {"inputs": x, "explanation": e, **case}
        with pytest.raises(InvalidInputError):
            metrics.descriptive_accuracy(
                model, args.pop("inputs"), args.pop("explanation"), **args
            )


def test_descriptive_accuracy_integer_tokens_need_integer_baseline() -> None:
    model = PlantedSequenceModel()
    sample = model.sample(2, length=10, seed=0)
    e = _explanation(sample.relevant.double(), target=sample.target)
    with pytest.raises(InvalidInputError):
        metrics.descriptive_accuracy(
            model, sample.inputs, e, baseline=0.5, output="logits"
        )


# -------------------------------------------------------------------- sparsity


def _histogram_maz_auc(scores: np.ndarray, bins: int) -> float:
    """Warnecke-style MAZ: histogram of normalized relevances on [-1, 1], its
    cumulative mass on [-t, t], area by the trapezoid rule."""
    r = scores / np.abs(scores).max()
    hist, edges = np.histogram(r, bins=2 * bins, range=(-1, 1))
    mass = hist / hist.sum()
    centre = bins
    maz = [mass[centre - i : centre + i].sum() for i in range(bins + 1)]
    return float(np.trapezoid(maz, dx=1.0 / bins))


def test_sparsity_matches_binned_histogram() -> None:
    scores = torch.randn(4, 200, dtype=torch.float64) ** 3
    got = metrics.sparsity(_explanation(scores)).numpy()
    for bins, tolerance in ((100, 0.02), (2000, 0.002)):
        reference = [_histogram_maz_auc(row, bins) for row in scores.numpy()]
        np.testing.assert_allclose(got, reference, atol=tolerance)


def test_sparsity_closed_forms() -> None:
    one_hot = torch.zeros(2, 8)
    one_hot[:, 3] = -2.0
    uniform = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    assert metrics.sparsity(_explanation(one_hot)).tolist() == [1 - 1 / 8] * 2
    assert metrics.sparsity(_explanation(uniform)).tolist() == [0.0]
    scores = torch.randn(3, 10, dtype=torch.float64)
    np.testing.assert_allclose(
        metrics.sparsity(_explanation(scores)).numpy(),
        metrics.sparsity(_explanation(-7.5 * scores)).numpy(),
    )


def test_sparsity_of_all_zero_explanation_is_nan() -> None:
    scores = torch.zeros(2, 5)
    scores[1, 0] = 1.0
    values = metrics.sparsity(_explanation(scores))
    assert math.isnan(values[0]) and values[1] == pytest.approx(0.8)
    curve = metrics.mass_around_zero(_explanation(scores))
    assert curve[0].isnan().all() and not curve[1].isnan().any()


def test_mass_around_zero_curve() -> None:
    scores = torch.tensor([[0.0, 0.5, -1.0, 0.25]])
    curve = metrics.mass_around_zero(
        _explanation(scores), torch.tensor([0, 0.3, 0.5, 1])
    )
    assert curve.tolist() == [[0.25, 0.5, 0.75, 1.0]]
    fine = metrics.mass_around_zero(_explanation(scores), torch.linspace(0, 1, 10001))
    area = torch.trapezoid(fine, dx=1e-4, dim=1)
    assert area.item() == pytest.approx(
        metrics.sparsity(_explanation(scores)).item(), abs=1e-3
    )
    with pytest.raises(InvalidInputError):
        metrics.mass_around_zero(_explanation(scores), torch.tensor([1.5]))


def test_sparsity_counts_features_not_elements() -> None:
    feature_map = torch.tensor([[0, 0, 0, 1, -1]])
    scores = torch.tensor([[1.0, 1.0, 1.0, 0.0, 5.0]])
    value = metrics.sparsity(_explanation(scores, feature_map=feature_map))
    assert value.tolist() == [0.5]  # two features, magnitudes 1 and 0


# ------------------------------------------------------- stability, efficiency


def test_stability_of_seed_independent_explainer_is_one() -> None:
    scores = torch.randn(3, 20)
    calls = []

    def explainer(inputs: torch.Tensor, seed: int) -> Explanation:
        calls.append(seed)
        return _explanation(scores)

    got = metrics.stability(explainer, torch.zeros(3, 20), k=5, seeds=(4, 5, 6))
    assert got.tolist() == [1.0] * 3
    assert calls == [4, 5, 6]


def test_stability_of_random_method_is_k_over_p() -> None:
    model = PlantedTabularModel(25, relevant=(1,))
    sample = model.sample(60, seed=0)
    explainer = metrics.make_explainer(model, "random", output="logits")
    got = metrics.stability(explainer, sample.inputs, k=5, seeds=(0, 1, 2))
    # each pair: hypergeometric overlap with mean k/p and sd <= 0.2 / sqrt(60*3),
    # p the input's features away from the baseline 0 (the others score 0)
    p = (sample.inputs != 0).sum(dim=1).double()
    assert bool((p >= 5).all())
    assert float(got.mean()) == pytest.approx(float((5 / p).mean()), abs=0.06)
    everything = metrics.make_explainer(
        model, "random", output="logits", skip_baseline_features=False
    )
    got = metrics.stability(everything, sample.inputs, k=5, seeds=(0, 1, 2))
    assert float(got.mean()) == pytest.approx(5 / 25, abs=0.06)


@pytest.mark.parametrize("seeds", [(0,), (1, 1), (0, -1), "ab", (0, 1.0)])
def test_stability_bad_seeds(seeds: object) -> None:
    with pytest.raises(InvalidInputError):
        metrics.stability(lambda x, s: _explanation(x), torch.zeros(1, 3), seeds=seeds)  # type: ignore[arg-type]


def test_explainer_must_return_matching_explanation() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(InvalidInputError):
        metrics.stability(lambda inputs, s: "nope", x, k=1)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidInputError):
        metrics.efficiency(lambda inputs, s: _explanation(torch.zeros(2, 4)), x)
    with pytest.raises(InvalidInputError):
        metrics.efficiency("explain", x)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        metrics.efficiency(lambda inputs, s: _explanation(inputs), torch.zeros(0, 3))


def test_efficiency_runs_the_explainer_repeats_times() -> None:
    calls = []

    def explainer(inputs: torch.Tensor, seed: int) -> Explanation:
        calls.append(seed)
        return _explanation(inputs)

    seconds = metrics.efficiency(explainer, torch.zeros(4, 3), seed=2, repeats=3)
    assert calls == [2, 2, 2]
    assert seconds >= 0.0 and math.isfinite(seconds)
    with pytest.raises(InvalidInputError):
        metrics.efficiency(explainer, torch.zeros(4, 3), repeats=0)


def test_evaluate_explainer_agrees_with_the_single_metrics() -> None:
    model = PlantedTabularModel(15, relevant=(0, 4, 9))
    sample = model.sample(5, seed=3)
    explainer = metrics.make_explainer(model, "random", output="logits")
    report = metrics.evaluate_explainer(
        model, sample.inputs, explainer, seeds=(0, 1), k=4, n_steps=6, output="logits"
    )
    first = explainer(sample.inputs, 0)
    da = metrics.descriptive_accuracy(
        model, sample.inputs, first, n_steps=6, output="logits"
    )
    assert torch.equal(report.descriptive_accuracy, da.auc)
    assert torch.equal(report.curve, da.curve)
    assert torch.equal(report.sparsity, metrics.sparsity(first))
    assert torch.equal(
        report.stability, metrics.stability(explainer, sample.inputs, k=4, seeds=(0, 1))
    )
    summary = report.summary()
    assert set(summary) == {
        "descriptive_accuracy",
        "sparsity",
        "stability",
        "seconds_per_input",
    }
    assert summary["stability"] == pytest.approx(float(report.stability.mean()))


def test_make_explainer_checks_its_arguments() -> None:
    model = PlantedTabularModel(5, relevant=(1,))
    with pytest.raises(InvalidInputError):
        metrics.make_explainer(model, "no-such-method")
    with pytest.raises(InvalidInputError):
        metrics.make_explainer(model, "random", seed=1)


def test_metrics_on_lemna_beat_random_on_planted_model() -> None:
    model = PlantedTabularModel(12, relevant=(1, 5, 8))
    sample = model.sample(3, seed=1)
    options = {"output": "logits", "n_samples": 200}
    lemna = metrics.make_explainer(
        model, "lemna", n_components=2, em_iter=10, **options
    )
    random = metrics.make_explainer(model, "random", **options)
    a = metrics.evaluate_explainer(
        model, sample.inputs, lemna, seeds=(0, 1), k=3, output="logits"
    )
    b = metrics.evaluate_explainer(
        model, sample.inputs, random, seeds=(0, 1), k=3, output="logits"
    )
    assert (a.descriptive_accuracy < b.descriptive_accuracy).all()
    assert float(a.stability.mean()) > float(b.stability.mean())


def test_metric_errors_are_library_errors() -> None:
    with pytest.raises(TorchXAIError):
        metrics.sparsity("explanation")  # type: ignore[arg-type]
    with pytest.raises(TorchXAIError):
        metrics.sparsity(
            _explanation(torch.zeros(1, 3), feature_map=torch.full((1, 3), -1))
        )
