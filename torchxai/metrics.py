"""Security-evaluation metrics of explanations, after Warnecke et al. (EuroS&P 2020).

Warnecke, Arp, Wressnegger and Rieck, "Evaluating Explanation Methods for Deep
Learning in Security", judge an explanation method by, among others:

* **descriptive accuracy** (:func:`descriptive_accuracy`): how fast the model's
  probability of the explained class falls as the explanation's top features are
  removed one by one; reported as the area under that curve (lower is better);
* **sparsity** (:func:`sparsity`, :func:`mass_around_zero`): how much of the
  normalized relevance mass sits near zero (higher is sparser);
* **stability** (:func:`stability`, :func:`top_k_overlap`): the overlap of the top-k
  features of repeated runs with different seeds (higher is more stable);
* **efficiency** (:func:`efficiency`): seconds per explanation.

:func:`evaluate_explainer` computes all four from one set of runs. The metrics take
any :class:`~torchxai.explanation.Explanation` (or an *explainer*: a callable
``(inputs, seed) -> Explanation``, see :func:`make_explainer`) and any model, never a
particular method, so every method is judged by the same code.

Conventions shared by the metrics:

* Features are the explanation's features (``feature_map``: columns of a tabular
  row, positions of the explained window of a sequence, pixels or segments of an
  image); without a feature map every input element is a feature. A feature's score
  is the mean score of its elements (they share one score in an Explanation).
* Features are ranked by *signed* score, highest first: the features that support
  the explained target, as in Warnecke et al. and the LEMNA seed code.
* Ties (a sparse surrogate gives many exact zeros) never favour an arbitrary feature
  order: top-k sets count a tied feature with its probability of being chosen under
  uniform random tie-breaking (:func:`top_k_inclusion`, exact, no sampling), and the
  removal order of :func:`descriptive_accuracy` breaks ties in a seeded random order.
* Top-k sets (:func:`top_k_inclusion`, :func:`top_k_overlap`) count input *elements*,
  as :meth:`Explanation.top_k` does; elements outside the features rank last.

Where this departs from Warnecke et al. is stated in each function's docstring.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.queries import OUTPUTS, TargetModel, pick_target

logger = logging.getLogger(__name__)

Explainer = Callable[[Tensor, int], Explanation]
"""An explainer: ``fn(inputs (B, *input_shape), seed) -> Explanation`` of the inputs."""

Model = Callable[[Tensor], Tensor]


# ----------------------------------------------------------------------------
# Explainers and top-k sets
# ----------------------------------------------------------------------------


def make_explainer(
    model: Model, method: str = "lemna", *, target: Any = None, **options: Any
) -> Explainer:
    """An explainer that runs :func:`torchxai.explain` with a given seed.

    Args:
        model: the model to explain.
        method: a registered method name (``"lemna"``, ``"lime"``, ``"random"``, ...).
        target: the ``target`` argument of :func:`torchxai.explain`.
        **options: further options of :func:`torchxai.explain`, except ``seed``.

    Returns:
        ``fn(inputs, seed) -> Explanation``.
    """
    if "seed" in options:
        raise InvalidInputError(
            "make_explainer: do not pass seed; the explainer takes it per call"
        )
    from torchxai.explain import explain
    from torchxai.methods import get_method

    get_method(method)  # fail early on an unknown method

    def run(inputs: Tensor, seed: int) -> Explanation:
        return explain(model, inputs, method, target=target, seed=seed, **options)

    return run


def top_k_inclusion(
    scores: Tensor, k: int | Tensor, eligible: Tensor | None = None
) -> Tensor:
    """Each element's probability of being in the top k, ties broken at random.

    Elements scoring above the k-th highest score are in the top k (probability 1);
    the ``t`` elements tied with it share the ``k - a`` remaining places (``a`` the
    number above), each with probability ``(k - a) / t``; the others have 0. This
    is the exact expectation of top-k membership under uniform random
    tie-breaking; each row sums to k.

    Args:
        scores: (B, n) finite scores.
        k: the set size, an integer or a (B,) integer tensor, 1 <= k <= n.
        eligible: (B, n) bool; ineligible elements rank below every eligible one
            (they tie with each other). Default: all eligible.

    Returns:
        (B, n) float64 probabilities.
    """
    scores = _finite_scores(scores, "scores").reshape(scores.shape[0], -1)
    batch, numel = scores.shape
    values = scores.to(torch.float64)
    if eligible is not None:
        values = values.masked_fill(~eligible.reshape(batch, numel), -math.inf)
    sizes = _k_tensor(k, batch, numel, values.device)
    ordered = torch.sort(values, dim=1, descending=True).values
    threshold = ordered.gather(1, (sizes - 1)[:, None])
    above = values > threshold
    tied = values == threshold
    places = (sizes[:, None] - above.sum(dim=1, keepdim=True)).to(torch.float64)
    share = places / tied.sum(dim=1, keepdim=True).to(torch.float64)
    return above.to(torch.float64) + tied.to(torch.float64) * share


def top_k_overlap(explanations: Sequence[Explanation], k: int = 10) -> Tensor:
    """The mean pairwise overlap of the top-k elements of repeated explanations.

    For runs r and s of the same inputs, the overlap of input b is
    ``|T_r(b) ∩ T_s(b)| / k`` with ``T`` the top-k elements; with ties the
    expected intersection under independent random tie-breaking is used,
    ``sum_j P_r(j) P_s(j) / k`` (``P`` from :func:`top_k_inclusion`). The result is
    the mean over all pairs of runs.

    Args:
        explanations: two or more explanations of the same B inputs.
        k: the top-set size, 1 <= k <= prod(input_shape).

    Returns:
        (B,) float64 overlaps in [0, 1]; 1 when every run ranks the same k first.
    """
    runs = list(explanations)
    if len(runs) < 2 or not all(isinstance(e, Explanation) for e in runs):
        raise InvalidInputError(
            "top_k_overlap needs a sequence of at least two Explanation objects; got "
            f"{len(runs)} item(s) of types {sorted({type(e).__name__ for e in runs})}"
        )
    shape = runs[0].scores.shape
    if any(e.scores.shape != shape for e in runs):
        raise InvalidInputError(
            "top_k_overlap: the explanations have different score shapes "
            f"{sorted({tuple(e.scores.shape) for e in runs})}; they must explain the "
            "same inputs"
        )
    numel = math.prod(shape[1:])
    size = _check_k(k, numel)
    probabilities = [top_k_inclusion(e.scores, size, _eligible(e)).cpu() for e in runs]
    pairs = [
        (a * b).sum(dim=1) / size for a, b in itertools.combinations(probabilities, 2)
    ]
    return torch.stack(pairs).mean(dim=0)


# ----------------------------------------------------------------------------
# Descriptive accuracy
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DescriptiveAccuracy:
    """The descriptive-accuracy curves of B explained inputs.

    Attributes:
        curve: (B, K + 1) float64; ``curve[b, k]`` is the model's probability of the
            explained target of input b after removing its k top features.
        auc: (B,) float64 normalized area under ``curve`` (see
            :func:`descriptive_accuracy`), in [0, 1]; lower is better.
        n_removed: (B,) int64 features removed at the last step (fewer than K
            where an input has fewer features).
    """

    curve: Tensor
    auc: Tensor
    n_removed: Tensor


def descriptive_accuracy(
    model: Model,
    inputs: Tensor,
    explanation: Explanation,
    *,
    n_steps: int = 30,
    baseline: float | Tensor = 0.0,
    output: str = "probabilities",
    batch_size: int = 1024,
    seed: int = 0,
) -> DescriptiveAccuracy:
    """How fast the target's probability falls as the top features are removed.

    For input x with explained target c and features ranked by the explanation,
    ``DA_k(x) = f_c(x with its k top features set to the baseline)`` for
    ``k = 0 .. K``, ``K = min(n_steps, number of features)``. The area under the
    curve, normalized to the unit interval,

    .. math::

        \\text{AUC} = \\frac1K \\sum_{k=0}^{K-1} \\frac{DA_k + DA_{k+1}}{2}

    (the trapezoid rule with the x axis scaled to [0, 1]) is in [0, 1]; a
    faithful explanation makes the probability drop early, so lower is better.
    An input with fewer features than K keeps its last value to the end.

    Where this departs from Warnecke et al.: they set removed features to 0 and
    do not state the AUC's normalization or range of k; here the removal value
    is ``baseline`` (default 0: an absent PDF feature, the padding token of the
    function-start RNN), the curve stops at ``n_steps`` (default 30) and the AUC is
    normalized as above. Features tied in score are removed in a seeded random
    order.

    Args:
        model: the explained model, mapping (N, *input_shape) to (N, C) or, for a
            sequence labeller, (N, L, C).
        inputs: (B, *input_shape) the explained inputs, on the model's device.
        explanation: their explanation; its ``target`` (B,) classes or (B, 2)
            ``(position, class)`` is the probability followed.
        n_steps: the most features removed, K >= 1.
        baseline: the value of a removed element: a number or a tensor
            broadcastable to ``inputs``.
        output: ``"probabilities"`` if the model returns probabilities,
            ``"logits"`` to apply a softmax over the last dimension first.
        batch_size: inputs per model call.
        seed: seed of the tie-breaking order.

    Returns:
        The curves and their areas.
    """
    _check_explanation(explanation, inputs, "descriptive_accuracy")
    n_steps = _check_int("n_steps", n_steps, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0)
    if output not in OUTPUTS:
        raise InvalidInputError(f"output must be one of {OUTPUTS}; got {output!r}")
    fill = _baseline(baseline, inputs)
    feature_map, feature_scores, valid = feature_view(explanation)
    feature_map = feature_map.to(inputs.device)
    rank = _removal_rank(feature_scores, valid, seed).to(inputs.device)
    element_rank = torch.where(
        feature_map >= 0,
        rank.gather(1, feature_map.clamp(min=0)),
        torch.iinfo(torch.int64).max,
    ).reshape(inputs.shape)
    counts = valid.sum(dim=1).to(inputs.device)
    steps = min(n_steps, int(counts.max()))
    wrapped = TargetModel(model, output, batch_size)
    target = explanation.target.to(inputs.device)
    curve = []
    with torch.no_grad():
        for k in range(steps + 1):
            removed_count = torch.clamp(counts, max=k)
            view = (-1,) + (1,) * (inputs.dim() - 1)
            removed = element_rank < removed_count.reshape(view)
            modified = torch.where(removed, fill, inputs)
            curve.append(_target_probability(wrapped, modified, target, k))
    values = torch.stack(curve, dim=1).to(torch.float64).cpu()
    return DescriptiveAccuracy(
        curve=values,
        auc=_normalized_auc(values),
        n_removed=torch.clamp(counts, max=steps).cpu(),
    )


def _normalized_auc(curve: Tensor) -> Tensor:
    """Trapezoid area of (B, K + 1) curves over [0, 1]; the value itself if K = 0."""
    steps = curve.shape[1] - 1
    if steps == 0:
        return curve[:, 0].clone()
    return ((curve[:, :-1] + curve[:, 1:]) / 2).sum(dim=1) / steps


def _removal_rank(scores: Tensor, valid: Tensor, seed: int) -> Tensor:
    """Each feature's place in the removal order (0 = first); invalid ones last."""
    gen = torch.Generator().manual_seed(seed)
    keys = scores.cpu().masked_fill(~valid.cpu(), -math.inf)
    shuffle = torch.rand(keys.shape, generator=gen).argsort(dim=1)
    shuffled = keys.gather(1, shuffle)
    order = shuffle.gather(1, shuffled.argsort(dim=1, descending=True, stable=True))
    rank = torch.empty_like(order)
    positions = torch.arange(order.shape[1]).expand_as(order)
    rank.scatter_(1, order, positions)
    return rank


def _target_probability(
    model: TargetModel, modified: Tensor, target: Tensor, step: int
) -> Tensor:
    parts = []
    for start in range(0, modified.shape[0], model.batch_size):
        chunk = modified[start : start + model.batch_size]
        context = f"the inputs with their top {step} features removed"
        probabilities = model.probabilities(chunk, context)
        rows = target[start : start + len(chunk)]
        _check_target(probabilities, rows)
        parts.append(pick_target(probabilities, rows))
    return torch.cat(parts)


def _check_target(probabilities: Tensor, target: Tensor) -> None:
    """Raise unless ``target`` fits the model's outputs (N, C) or (N, L, C)."""
    labeller = probabilities.dim() == 3
    expected = "(B, 2) (position, class) pairs" if labeller else "(B,) classes"
    wrong_type = target.is_floating_point() or target.is_complex()
    if wrong_type or target.dtype == torch.bool:
        raise InvalidInputError(
            f"the explanation's target must hold integers; got {target.dtype}"
        )
    if target.dim() != (2 if labeller else 1) or (labeller and target.shape[1] != 2):
        raise InvalidInputError(
            f"the explanation's target has shape {tuple(target.shape)} but the model's "
            f"outputs {tuple(probabilities.shape)} need {expected}"
        )
    limits = probabilities.shape[1:]
    columns = target if labeller else target[:, None]
    for column, limit in zip(columns.unbind(dim=1), limits, strict=False):
        if bool(((column < 0) | (column >= limit)).any()):
            raise InvalidInputError(
                f"the explanation's target {columns.tolist()} is out of range for "
                f"model outputs of shape {tuple(probabilities.shape)}"
            )


# ----------------------------------------------------------------------------
# Sparsity
# ----------------------------------------------------------------------------


def mass_around_zero(
    explanation: Explanation, thresholds: Tensor | None = None
) -> Tensor:
    """The mass-around-zero curve of each explanation.

    Scores are normalized per input by the largest absolute feature score,
    ``a_j = |r_j| / max_i |r_i|`` in [0, 1]; ``MAZ(t)`` is the fraction of features
    with ``a_j <= t``: the mass of the normalized relevance histogram on
    ``[-t, t]``. Sparse explanations rise steeply near ``t = 0``.

    Where this departs from Warnecke et al.: they bin the normalized relevances in
    a histogram; this is the exact empirical distribution (the limit of infinitely
    fine bins), so no bin count has to be chosen.

    Args:
        explanation: the explanation of B inputs.
        thresholds: (T,) values of t in [0, 1]; default 101 evenly spaced.

    Returns:
        (B, T) float64; rows of all-zero explanations are NaN.
    """
    if thresholds is None:
        thresholds = torch.linspace(0, 1, 101, dtype=torch.float64)
    if not isinstance(thresholds, Tensor) or thresholds.dim() != 1:
        raise InvalidInputError(
            f"thresholds must be a 1-D tensor of values in [0, 1]; got {thresholds!r}"
        )
    levels = thresholds.detach().cpu().to(torch.float64)
    if not bool(((levels >= 0) & (levels <= 1)).all()):
        raise InvalidInputError("thresholds must lie in [0, 1]")
    normalized, valid = _normalized_magnitudes(explanation)
    below = (normalized[:, :, None] <= levels[None, None, :]) & valid[:, :, None]
    fraction = below.sum(dim=1).to(torch.float64) / valid.sum(dim=1, keepdim=True)
    degenerate = normalized.isnan().any(dim=1)
    return fraction.masked_fill(degenerate[:, None], math.nan)


def sparsity(explanation: Explanation) -> Tensor:
    """The area under the mass-around-zero curve: higher is sparser.

    ``AUC = ∫_0^1 MAZ(t) dt`` with the exact MAZ curve of :func:`mass_around_zero`,
    which equals ``1 - mean_j a_j`` (``a_j`` the normalized absolute scores). It is
    ``1 - 1/p`` for an explanation with one nonzero feature out of p, and 0 for one
    whose features all have the same magnitude.

    Where this departs from Warnecke et al.: the area is computed exactly instead
    of from a binned histogram (see :func:`mass_around_zero`).

    Args:
        explanation: the explanation of B inputs.

    Returns:
        (B,) float64 in [0, 1); NaN for an explanation whose scores are all zero
        (there is nothing to normalize).
    """
    normalized, valid = _normalized_magnitudes(explanation)
    mean = normalized.masked_fill(~valid, 0.0).sum(dim=1) / valid.sum(dim=1)
    return 1.0 - mean


def _normalized_magnitudes(explanation: Explanation) -> tuple[Tensor, Tensor]:
    """(B, P) ``|r| / max |r|`` per input (NaN rows if all zero) and the valid mask."""
    if not isinstance(explanation, Explanation):
        raise InvalidInputError(
            f"explanation must be an Explanation; got {type(explanation).__name__}"
        )
    _, scores, valid = feature_view(explanation)
    magnitude = scores.abs().masked_fill(~valid, 0.0).cpu()
    valid = valid.cpu()
    largest = magnitude.max(dim=1, keepdim=True).values
    normalized = magnitude / largest
    return normalized.masked_fill(largest == 0, math.nan), valid


# ----------------------------------------------------------------------------
# Stability and efficiency
# ----------------------------------------------------------------------------


def stability(
    explainer: Explainer,
    inputs: Tensor,
    *,
    k: int = 10,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> Tensor:
    """The overlap of the top-k elements between runs with different seeds.

    Runs ``explainer(inputs, seed)`` once per seed and returns
    :func:`top_k_overlap` of the runs. Warnecke et al. report the average
    intersection of the top-k features of repeated runs; here it is divided by k
    (so 1 means identical top sets, and a method drawing top sets at random scores
    ``k / p`` on average) and ties are counted by their inclusion probability.

    Args:
        explainer: ``fn(inputs, seed) -> Explanation``, e.g. :func:`make_explainer`.
        inputs: (B, *input_shape) the inputs to explain.
        k: the top-set size.
        seeds: two or more distinct seeds.

    Returns:
        (B,) float64 in [0, 1]; higher is more stable.
    """
    seeds = _check_seeds(seeds)
    runs = [_run(explainer, inputs, seed)[0] for seed in seeds]
    return top_k_overlap(runs, k)


def efficiency(
    explainer: Explainer, inputs: Tensor, *, seed: int = 0, repeats: int = 1
) -> float:
    """Wall-clock seconds per explained input.

    Times ``explainer(inputs, seed)`` ``repeats`` times (synchronizing CUDA before
    reading the clock) and returns the median time divided by B. Warnecke et al.
    time one explanation per call on a CPU; batching B inputs in one call lowers
    the per-input time of methods that batch their work.

    Args:
        explainer: ``fn(inputs, seed) -> Explanation``.
        inputs: (B, *input_shape) the inputs to explain.
        seed: the seed of every run.
        repeats: how many timed runs.

    Returns:
        Seconds per input.
    """
    repeats = _check_int("repeats", repeats, 1)
    seed = _check_int("seed", seed, 0)
    times = [_run(explainer, inputs, seed)[1] for _ in range(repeats)]
    return statistics.median(times) / inputs.shape[0]


@dataclass(frozen=True)
class ExplainerReport:
    """The four metrics of one explainer on B inputs.

    Attributes:
        descriptive_accuracy: (B,) DA AUC of the first run (lower is better).
        sparsity: (B,) MAZ AUC of the first run (higher is sparser; NaN for
            all-zero explanations).
        stability: (B,) top-k overlap between the runs (higher is more stable).
        seconds_per_input: median seconds per explained input over the runs.
        curve: (B, K + 1) the DA curves of the first run.
        k: the top-set size of the stability.
        seeds: the seeds of the runs.
    """

    descriptive_accuracy: Tensor
    sparsity: Tensor
    stability: Tensor
    seconds_per_input: float
    curve: Tensor
    k: int
    seeds: tuple[int, ...]

    def summary(self) -> dict[str, float]:
        """Means over the inputs (NaN sparsities left out), and the time."""
        return {
            "descriptive_accuracy": float(self.descriptive_accuracy.mean()),
            "sparsity": float(self.sparsity.nanmean()),
            "stability": float(self.stability.mean()),
            "seconds_per_input": self.seconds_per_input,
        }


def evaluate_explainer(
    model: Model,
    inputs: Tensor,
    explainer: Explainer,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    k: int = 10,
    n_steps: int = 30,
    baseline: float | Tensor = 0.0,
    output: str = "probabilities",
    batch_size: int = 1024,
) -> ExplainerReport:
    """All four metrics from one run per seed.

    The explainer runs once per seed (each run timed); descriptive accuracy and
    sparsity are computed on the first run, stability over all runs, efficiency as
    the median run time per input.

    Args:
        model: the explained model (see :func:`descriptive_accuracy`).
        inputs: (B, *input_shape) the inputs to explain.
        explainer: ``fn(inputs, seed) -> Explanation``.
        seeds: two or more distinct seeds.
        k: the top-set size of the stability.
        n_steps: the most features removed for the descriptive accuracy.
        baseline: the value of a removed element.
        output: ``"probabilities"`` or ``"logits"``: what the model returns.
        batch_size: inputs per model call of the descriptive accuracy.

    Returns:
        The report.
    """
    seeds = _check_seeds(seeds)
    timed = [_run(explainer, inputs, seed) for seed in seeds]
    runs = [explanation for explanation, _ in timed]
    accuracy = descriptive_accuracy(
        model,
        inputs,
        runs[0],
        n_steps=n_steps,
        baseline=baseline,
        output=output,
        batch_size=batch_size,
        seed=seeds[0],
    )
    return ExplainerReport(
        descriptive_accuracy=accuracy.auc,
        sparsity=sparsity(runs[0]),
        stability=top_k_overlap(runs, k),
        seconds_per_input=statistics.median([t for _, t in timed]) / inputs.shape[0],
        curve=accuracy.curve,
        k=k,
        seeds=tuple(seeds),
    )


# ----------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------


def feature_view(explanation: Explanation) -> tuple[Tensor, Tensor, Tensor]:
    """An explanation's features: element map, per-feature scores, valid mask.

    Args:
        explanation: the explanation of B inputs.

    Returns:
        ``feature_map`` (B, n) int64 feature of each flattened element (-1: none);
        ``scores`` (B, P) float64 mean score of each feature's elements;
        ``valid`` (B, P) bool, features that own at least one element. Without a
        feature map, every element is a feature (P = n).
    """
    scores = _finite_scores(explanation.scores, "explanation.scores")
    batch = scores.shape[0]
    flat = scores.reshape(batch, -1).to(torch.float64)
    if explanation.feature_map is None:
        index = torch.arange(flat.shape[1], device=flat.device).expand(batch, -1)
        return index.clone(), flat, torch.ones_like(flat, dtype=torch.bool)
    feature_map = explanation.feature_map.reshape(batch, -1).to(flat.device)
    if feature_map.shape != flat.shape or feature_map.is_floating_point():
        raise InvalidInputError(
            "explanation.feature_map must be an integer tensor shaped like the scores "
            f"{tuple(explanation.scores.shape)}; got "
            f"{explanation.feature_map.dtype} {tuple(explanation.feature_map.shape)}"
        )
    width = int(feature_map.max()) + 1 if feature_map.numel() else 0
    slot = torch.where(feature_map >= 0, feature_map, width).to(torch.int64)
    sums = torch.zeros(batch, width + 1, dtype=torch.float64, device=flat.device)
    sizes = torch.zeros_like(sums)
    sums.scatter_add_(1, slot, flat)
    sizes.scatter_add_(1, slot, torch.ones_like(flat))
    valid = sizes[:, :width] > 0
    empty = ~valid.any(dim=1)
    if bool(empty.any()):
        raise InvalidInputError(
            f"the explanation of input {int(torch.nonzero(empty)[0])} has no features "
            "(its feature_map is -1 everywhere)"
        )
    means = sums[:, :width] / sizes[:, :width].clamp(min=1)
    return feature_map.to(torch.int64), means, valid


def _eligible(explanation: Explanation) -> Tensor | None:
    if explanation.feature_map is None:
        return None
    return explanation.feature_map.reshape(explanation.batch_size, -1) >= 0


def _run(explainer: Explainer, inputs: Tensor, seed: int) -> tuple[Explanation, float]:
    """One timed explainer call, checked."""
    if not callable(explainer):
        raise InvalidInputError(
            f"explainer must be a callable (inputs, seed) -> Explanation; got "
            f"{type(explainer).__name__}"
        )
    if not isinstance(inputs, Tensor) or inputs.dim() < 2 or inputs.shape[0] == 0:
        raise InvalidInputError(
            "inputs must be a non-empty batch tensor (B, *input_shape); got "
            f"{_describe(inputs)}"
        )
    _synchronize(inputs)
    start = time.perf_counter()
    explanation = explainer(inputs, seed)
    _synchronize(inputs)
    elapsed = time.perf_counter() - start
    _check_explanation(explanation, inputs, "the explainer's result")
    return explanation, elapsed


def _synchronize(inputs: Tensor) -> None:
    if inputs.is_cuda:
        torch.cuda.synchronize(inputs.device)


def _check_explanation(explanation: object, inputs: Tensor, where: str) -> None:
    if not isinstance(explanation, Explanation):
        raise InvalidInputError(
            f"{where}: expected an Explanation; got {type(explanation).__name__}"
        )
    if not isinstance(inputs, Tensor) or explanation.scores.shape != inputs.shape:
        raise InvalidInputError(
            f"{where}: the explanation's scores have shape "
            f"{tuple(explanation.scores.shape)} but the inputs are "
            f"{_describe(inputs)}; explain exactly these inputs"
        )


def _finite_scores(scores: object, name: str) -> Tensor:
    if not isinstance(scores, Tensor) or scores.dim() < 2 or scores.shape[0] == 0:
        raise InvalidInputError(
            f"{name} must be a non-empty batch tensor (B, ...); got {_describe(scores)}"
        )
    if scores.is_complex() or scores.dtype == torch.bool:
        raise InvalidInputError(f"{name} must hold real numbers; got {scores.dtype}")
    if math.prod(scores.shape[1:]) == 0:
        raise InvalidInputError(
            f"{name} has no elements per input: {_describe(scores)}"
        )
    if not scores.is_floating_point():
        scores = scores.to(torch.float64)
    if not bool(torch.isfinite(scores).all()):
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    return scores


def _check_k(k: object, numel: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= numel:
        raise InvalidInputError(
            f"k must be an integer in [1, {numel}] (the number of input elements); "
            f"got {k!r}"
        )
    return k


def _k_tensor(k: int | Tensor, batch: int, numel: int, device: torch.device) -> Tensor:
    if isinstance(k, Tensor):
        if k.shape != (batch,) or k.is_floating_point() or k.dtype == torch.bool:
            raise InvalidInputError(
                f"k must be an integer or a ({batch},) integer tensor; got "
                f"{_describe(k)}"
            )
        if bool(((k < 1) | (k > numel)).any()):
            raise InvalidInputError(
                f"k must lie in [1, {numel}] (the number of input elements); got "
                f"values {int(k.min())}..{int(k.max())}"
            )
        return k.to(device=device, dtype=torch.int64)
    return torch.full((batch,), _check_k(k, numel), dtype=torch.int64, device=device)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{name} must be an integer >= {minimum}; got {value!r}"
        )
    return value


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    try:
        values = list(seeds)
    except TypeError:
        values = []
    ok = len(values) >= 2 and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in values
    )
    if not ok or len(set(values)) != len(values):
        raise InvalidInputError(
            f"seeds must be two or more distinct non-negative integers; got {seeds!r}"
        )
    return values


def _baseline(value: float | Tensor, inputs: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        baseline = value.to(inputs.device)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        baseline = torch.tensor(float(value), device=inputs.device)
    else:
        raise InvalidInputError(f"baseline must be a number or a tensor; got {value!r}")
    try:
        fits = torch.broadcast_shapes(baseline.shape, inputs.shape) == inputs.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise InvalidInputError(
            f"baseline of shape {tuple(baseline.shape)} does not broadcast to the "
            f"inputs' shape {tuple(inputs.shape)}"
        )
    if baseline.is_floating_point() and not bool(torch.isfinite(baseline).all()):
        raise InvalidInputError("baseline contains NaN or infinite values")
    if not inputs.is_floating_point() and baseline.is_floating_point():
        if not bool((baseline == baseline.round()).all()):
            raise InvalidInputError(
                f"baseline must hold integers for {inputs.dtype} inputs; got {value!r}"
            )
    return baseline.to(inputs.dtype)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"
