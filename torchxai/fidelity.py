"""Fidelity tests: does an explanation's top-k really drive the model's decision?

Every test takes a model (any callable from a batch of inputs to logits) and an
explanation (anything with a ``scores`` tensor shaped like the inputs, e.g.
:class:`torchxai.explanation.Explanation`), never a particular method, so every
explainer is judged by the same code. Each test builds modified copies of the
explained inputs from the explanation's ``k`` highest-scoring features and from
``k`` features drawn at random (seeded), and reports the *positive classification
rate* (PCR): the fraction of modified inputs the model still assigns to the
explained target class.

How each test is built (``x`` the explained input, ``S`` the selected features):

* **deduction** (:func:`deduction_test`): ``x`` with the features in ``S`` set to
  ``null_value``. A faithful explanation makes the PCR *drop*.
* **augmentation** (:func:`augmentation_test`): a *donor* input of another class
  with the features in ``S`` replaced by those of ``x``. A faithful explanation
  makes the PCR *rise* above the donors' own PCR.
* **synthetic** (:func:`synthetic_test`): a *background* input (all
  ``background``) carrying only the features in ``S`` of ``x``. A faithful
  explanation keeps the PCR *high*.

Every result also carries the PCR with no feature selected (``k = 0``: ``x``
itself, the bare donors, the bare background) as the reference the two others
move away from.

Conventions:

* Features are groups of input elements given by a *feature map* (an int64 tensor
  shaped like the inputs, the feature index of every element, -1 for elements
  that are not features), by default ``explanation.feature_map``: the 135 columns
  of a tabular row, the positions of the explained window of a token sequence
  (the RNN's explainers leave the other positions out), the pixels or segments of
  an image. Without a feature map every element is its own feature.
  ``feature_mask`` (bool, shaped like the inputs) further restricts both
  selections to the elements it marks. A feature's score is the mean score of its
  elements (they share one score in an Explanation).
* The explanation's features are ranked by *signed* score, highest first (the
  features that push the model towards the target), as in the seed code. Ties (a
  sparse surrogate gives many exact zeros) are broken in a seeded random order,
  so an arbitrary feature order cannot favour one side.
* The random baseline draws ``k`` distinct eligible features per input from the
  same seed; its selections are nested in ``k`` (the ``k = 5`` set is inside the
  ``k = 10`` set), like the explanation's.
* The model's output is ``(N, C)`` logits, or ``(N, *S, C)`` for outputs with a
  position (the RNN's ``(N, L, 2)``); the predicted class is the arg-max over the
  last axis, i.e. probability above 0.5 for two classes, as in the seed code.
* The target of each input is a class (outputs ``(N, C)``) or a position and a
  class (outputs ``(N, L, C)``: ``(position, class)``); see :func:`resolve_target`.

Where this differs from the LEMNA paper (Guo et al., CCS 2018, section 6.2) and
the seed code (``lemna/code/lemna_beta.py`` of Henrygwb/Explaining-DL):

* The paper's synthetic test fills the unselected features with random values;
  the seed code fills them with 0. Here the background is a parameter (a number,
  or a tensor per input, which may hold random values); the default is 0.
* The seed code draws its random features with replacement over the whole
  200-byte sequence (so fewer than ``k`` distinct positions, mostly outside the
  explained window); here they are ``k`` distinct features among the eligible
  ones, a stricter baseline.
* The seed code uses a single donor (the first test window) for every
  augmentation; here each input gets its own donor, chosen by the caller.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError

logger = logging.getLogger(__name__)

TESTS = ("deduction", "augmentation", "synthetic")

Model = Callable[[Tensor], Tensor]


class ExplanationLike(Protocol):
    """What the fidelity tests read from an explanation: scores shaped like x."""

    @property
    def scores(self) -> Tensor: ...


@dataclass(frozen=True)
class FidelityResult:
    """The outcome of one fidelity test at one ``k``.

    Attributes:
        test: ``"deduction"``, ``"augmentation"`` or ``"synthetic"``.
        k: the number of features selected.
        pcr: PCR with the explanation's top-``k`` features.
        pcr_random: PCR with ``k`` features drawn at random.
        pcr_reference: PCR with no feature selected (``k = 0``).
        kept: ``(B,)`` bool, which modified inputs (explanation) keep the target.
        kept_random: ``(B,)`` bool, the same for the random selection.
        kept_reference: ``(B,)`` bool, the same with no feature selected.
    """

    test: str
    k: int
    pcr: float
    pcr_random: float
    pcr_reference: float
    kept: Tensor = field(repr=False)
    kept_random: Tensor = field(repr=False)
    kept_reference: Tensor = field(repr=False)

    @property
    def n_inputs(self) -> int:
        """The number of explained inputs."""
        return int(self.kept.numel())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary (rates and counts, no tensors)."""
        return {
            "test": self.test,
            "k": self.k,
            "n_inputs": self.n_inputs,
            "pcr": self.pcr,
            "pcr_random": self.pcr_random,
            "pcr_reference": self.pcr_reference,
        }


@dataclass(frozen=True)
class FidelityTable:
    """Fidelity results over several tests and values of ``k``."""

    results: list[FidelityResult]

    def get(self, test: str, k: int) -> FidelityResult:
        """The result of ``test`` at ``k``; raises ``KeyError`` if it was not run."""
        for result in self.results:
            if result.test == test and result.k == k:
                return result
        raise KeyError(f"no result for test={test!r}, k={k}")

    def to_dict(self) -> list[dict[str, Any]]:
        """One JSON-serializable row per (test, k)."""
        return [result.to_dict() for result in self.results]

    def format(self) -> str:
        """A plain-text table, one row per (test, k)."""
        lines = [f"{'test':<13}{'k':>4}{'PCR':>9}{'random':>9}{'k=0':>9}"]
        for r in self.results:
            lines.append(
                f"{r.test:<13}{r.k:>4}{r.pcr:>9.3f}{r.pcr_random:>9.3f}"
                f"{r.pcr_reference:>9.3f}"
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------
# Public tests
# ----------------------------------------------------------------------------


def deduction_test(
    model: Model,
    x: Tensor,
    explanation: ExplanationLike | Tensor,
    k: int,
    target: Any = None,
    *,
    null_value: float | Tensor = 0,
    feature_mask: Tensor | None = None,
    feature_map: Tensor | None = None,
    seed: int | torch.Generator = 0,
    batch_size: int | None = None,
) -> FidelityResult:
    """Feature deduction: nullify the top-``k`` features; the PCR should drop.

    Args:
        model: maps a batch ``(N, *input_shape)`` to logits ``(N, C)`` or
            ``(N, *S, C)``; called under ``torch.no_grad()``.
        x: ``(B, *input_shape)`` the explained inputs.
        explanation: an Explanation, or its ``(B, *input_shape)`` scores.
        k: the number of features to nullify, ``0 <= k <=`` eligible features.
        target: the explained target per input (see :func:`resolve_target`);
            defaults to ``explanation.target``, else the model's prediction on ``x``.
        null_value: the value a removed feature takes: a number or a tensor
            broadcastable to ``x`` (0 = absent for binary features, padding for
            the RNN's tokens).
        feature_mask: ``(B, *input_shape)`` or ``input_shape`` bool, the elements
            eligible for selection; defaults to all.
        feature_map: ``(B, *input_shape)`` or ``input_shape`` int64 feature index
            of every element, -1 for non-features; defaults to
            ``explanation.feature_map`` if it has one, else one feature per element.
        seed: seed (or generator) of the random baseline and of tie-breaking.
        batch_size: the most inputs per model call; default all at once.

    Returns:
        The :class:`FidelityResult`; ``pcr_reference`` is the PCR of ``x`` itself.
    """
    setup = _setup(
        model, x, explanation, target, feature_mask, feature_map, seed, batch_size
    )
    null = _fill_tensor(null_value, x, "null_value")
    return _run(setup, "deduction", k, base=x, source=null)


def augmentation_test(
    model: Model,
    x: Tensor,
    explanation: ExplanationLike | Tensor,
    k: int,
    donors: Tensor,
    target: Any = None,
    *,
    feature_mask: Tensor | None = None,
    feature_map: Tensor | None = None,
    seed: int | torch.Generator = 0,
    batch_size: int | None = None,
) -> FidelityResult:
    """Feature augmentation: paste the top-``k`` features of ``x`` into donors.

    The donors are inputs of another class (for the RNN: windows whose target
    position is predicted a non-start); the PCR should rise above
    ``pcr_reference``, the donors' own PCR.

    Args:
        model: as in :func:`deduction_test`.
        x: ``(B, *input_shape)`` the explained inputs.
        explanation: an Explanation, or its ``(B, *input_shape)`` scores.
        k: the number of features pasted.
        donors: ``(B, *input_shape)`` one donor per input, or ``input_shape``
            one donor for all; same dtype as ``x``.
        target: as in :func:`deduction_test`.
        feature_mask: as in :func:`deduction_test`.
        feature_map: as in :func:`deduction_test`.
        seed: as in :func:`deduction_test`.
        batch_size: as in :func:`deduction_test`.

    Returns:
        The :class:`FidelityResult`.
    """
    setup = _setup(
        model, x, explanation, target, feature_mask, feature_map, seed, batch_size
    )
    base = _donor_tensor(donors, x)
    return _run(setup, "augmentation", k, base=base, source=x)


def synthetic_test(
    model: Model,
    x: Tensor,
    explanation: ExplanationLike | Tensor,
    k: int,
    target: Any = None,
    *,
    background: float | Tensor = 0,
    feature_mask: Tensor | None = None,
    feature_map: Tensor | None = None,
    seed: int | torch.Generator = 0,
    batch_size: int | None = None,
) -> FidelityResult:
    """Synthetic test: only the top-``k`` features of ``x`` on a neutral background.

    Args:
        model: as in :func:`deduction_test`.
        x: ``(B, *input_shape)`` the explained inputs.
        explanation: an Explanation, or its ``(B, *input_shape)`` scores.
        k: the number of features kept.
        target: as in :func:`deduction_test`.
        background: the value of every other feature: a number or a tensor
            broadcastable to ``x`` (e.g. random values per input, as in the paper).
        feature_mask: as in :func:`deduction_test`.
        feature_map: as in :func:`deduction_test`.
        seed: as in :func:`deduction_test`.
        batch_size: as in :func:`deduction_test`.

    Returns:
        The :class:`FidelityResult`; ``pcr_reference`` is the background's PCR.
    """
    setup = _setup(
        model, x, explanation, target, feature_mask, feature_map, seed, batch_size
    )
    base = _fill_tensor(background, x, "background")
    return _run(setup, "synthetic", k, base=base, source=x)


def fidelity_table(
    model: Model,
    x: Tensor,
    explanation: ExplanationLike | Tensor,
    ks: Iterable[int],
    target: Any = None,
    *,
    donors: Tensor | None = None,
    null_value: float | Tensor = 0,
    background: float | Tensor = 0,
    feature_mask: Tensor | None = None,
    feature_map: Tensor | None = None,
    tests: Sequence[str] | None = None,
    seed: int | torch.Generator = 0,
    batch_size: int | None = None,
) -> FidelityTable:
    """Run the fidelity tests for every ``k`` in ``ks``.

    Args:
        model: as in :func:`deduction_test`.
        x: ``(B, *input_shape)`` the explained inputs.
        explanation: an Explanation, or its ``(B, *input_shape)`` scores.
        ks: the values of ``k``.
        target: as in :func:`deduction_test`.
        donors: the donors of :func:`augmentation_test`; required when the
            augmentation test runs.
        null_value: as in :func:`deduction_test`.
        background: as in :func:`synthetic_test`.
        feature_mask: as in :func:`deduction_test`.
        feature_map: as in :func:`deduction_test`.
        tests: which tests to run, a subset of ``("deduction", "augmentation",
            "synthetic")``; default all three (augmentation only if ``donors``).
        seed: as in :func:`deduction_test`; every test and ``k`` uses the same
            draws, so random selections are nested in ``k``.
        batch_size: as in :func:`deduction_test`.

    Returns:
        A :class:`FidelityTable`, ordered by test, then ``k``.
    """
    ks = _check_ks(ks)
    tests = _check_tests(tests, donors is not None)
    setup = _setup(
        model, x, explanation, target, feature_mask, feature_map, seed, batch_size
    )
    sources = {
        "deduction": (x, _fill_tensor(null_value, x, "null_value")),
        "synthetic": (_fill_tensor(background, x, "background"), x),
    }
    if "augmentation" in tests:
        if donors is None:
            raise InvalidInputError(
                "donors=None: the augmentation test needs donor inputs of another "
                "class; pass donors or leave 'augmentation' out of tests"
            )
        sources["augmentation"] = (_donor_tensor(donors, x), x)
    results = [
        _run(setup, test, k, base=sources[test][0], source=sources[test][1])
        for test in tests
        for k in ks
    ]
    return FidelityTable(results)


# ----------------------------------------------------------------------------
# Selections, targets and helpers (public because the tests and scripts use them)
# ----------------------------------------------------------------------------


def top_k_features(
    scores: Tensor,
    k: int,
    feature_mask: Tensor | None = None,
    seed: int | torch.Generator = 0,
    feature_map: Tensor | None = None,
) -> Tensor:
    """The ``k`` eligible features with the highest signed scores, per input.

    Args:
        scores: ``(B, *input_shape)`` real scores.
        k: how many features, at most the number of eligible features per input.
        feature_mask: ``(B, *input_shape)`` or ``input_shape`` bool; default all.
        seed: seed (or generator) of the random order that breaks ties.
        feature_map: ``(B, *input_shape)`` or ``input_shape`` int64, -1 for
            non-features; default one feature per element.

    Returns:
        ``(B, k)`` int64 feature indices (flat element indices without a feature
        map), highest score first.
    """
    _check_batch(scores, "scores")
    features = _features(scores, scores, feature_mask, feature_map)
    _check_k(k, features.eligible)
    ties, _ = _draws(_generator(seed), features.eligible.shape, scores.device)
    return _top_k_order(features, ties)[:, :k]


def random_features(
    like: Tensor,
    k: int,
    feature_mask: Tensor | None = None,
    seed: int | torch.Generator = 0,
    feature_map: Tensor | None = None,
) -> Tensor:
    """``k`` distinct eligible features drawn uniformly at random, per input.

    The draw is the one the fidelity tests use as their baseline for the same seed
    and the same features.

    Args:
        like: ``(B, *input_shape)`` a tensor with the inputs' shape and device.
        k: how many features, at most the number of eligible features per input.
        feature_mask: ``(B, *input_shape)`` or ``input_shape`` bool; default all.
        seed: seed (or generator).
        feature_map: as in :func:`top_k_features`.

    Returns:
        ``(B, k)`` int64 feature indices.
    """
    _check_batch(like, "like")
    features = _features(like, None, feature_mask, feature_map)
    _check_k(k, features.eligible)
    _, keys = _draws(_generator(seed), features.eligible.shape, like.device)
    return _random_order(features.eligible, keys)[:, :k]


def resolve_target(target: Any, batch: int, output_ndim: int) -> Tensor:
    """Normalize a target specification to ``(B, r + 1)`` rows (position..., class).

    ``r = output_ndim - 2`` is the number of position axes of the model's output:
    0 for ``(N, C)`` logits, 1 for the RNN's ``(N, L, C)``.

    Accepted forms: for ``r = 0``, an int (same class for all) or ``B`` ints (a
    list or a ``(B,)`` tensor); for ``r >= 1``, one ``(position..., class)`` tuple
    of ``r + 1`` ints for all inputs, or ``(B, r + 1)`` rows (a tensor or a list
    of tuples).

    Args:
        target: the specification.
        batch: ``B``.
        output_ndim: the number of axes of the model's output.

    Returns:
        ``(B, r + 1)`` int64 on the CPU.
    """
    r = output_ndim - 2
    if r < 0:
        raise InvalidInputError(
            f"the model returned a {output_ndim}-d output; expected logits of shape "
            "(N, C) or (N, *S, C)"
        )
    try:
        t = torch.as_tensor(target).cpu()
    except (TypeError, ValueError, RuntimeError) as err:
        raise InvalidInputError(
            f"target={target!r} is not a class or (position, class) specification"
        ) from err
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise InvalidInputError(f"target has dtype {t.dtype}; expected integers")
    t = t.to(torch.int64)
    if r == 0 and t.ndim == 0:
        t = t.expand(batch)
    if r == 0 and t.ndim == 1 and t.shape[0] == batch:
        return t.reshape(batch, 1).clone()
    if r >= 1 and t.ndim == 1 and t.shape[0] == r + 1:
        return t.unsqueeze(0).expand(batch, r + 1).clone()
    if t.ndim == 2 and t.shape == (batch, r + 1):
        return t.clone()
    expected = (
        f"an int or {batch} class indices"
        if r == 0
        else f"a (position..., class) tuple of {r + 1} ints or ({batch}, {r + 1}) rows"
    )
    raise InvalidInputError(
        f"target has shape {tuple(t.shape)} for {batch} inputs and {output_ndim}-d "
        f"model outputs; expected {expected}"
    )


@torch.no_grad()
def target_kept(
    model: Model, inputs: Tensor, target: Tensor, batch_size: int | None = None
) -> Tensor:
    """Whether the model assigns each input to its target class.

    Args:
        model: maps ``(N, *input_shape)`` to logits ``(N, C)`` or ``(N, *S, C)``.
        inputs: ``(N, *input_shape)``.
        target: ``(N, r + 1)`` rows from :func:`resolve_target`.
        batch_size: the most inputs per model call.

    Returns:
        ``(N,)`` bool on the CPU.
    """
    kept = []
    step = batch_size or max(1, inputs.shape[0])
    for start in range(0, inputs.shape[0], step):
        rows = target[start : start + step]
        predicted = _predicted_class(model(inputs[start : start + step]), rows)
        kept.append(predicted == rows[:, -1])
    return torch.cat(kept) if kept else torch.zeros(0, dtype=torch.bool)


def approximation_rmse(explanation: Any) -> dict[str, float]:
    """Summarize the RMSE of an explanation's local approximation over its inputs.

    Reads ``explanation.fit_rmse`` ``(B,)``: per input, the root mean squared
    error between the surrogate's predictions and the model's outputs on the
    perturbed samples the explainer fitted on (the paper's measure). NaN entries
    (an input without a surrogate) are left out of the summary.

    Args:
        explanation: anything with a ``fit_rmse`` ``(B,)`` tensor.

    Returns:
        ``{"mean", "std", "median", "min", "max", "n"}``; the rates are NaN and
        ``n`` is 0 when no input has a finite RMSE.
    """
    rmse = getattr(explanation, "fit_rmse", None)
    if rmse is None:
        raise InvalidInputError(
            f"{type(explanation).__name__} has no fit_rmse; expected an explanation "
            "whose method fits a local surrogate (not 'random')"
        )
    values = torch.as_tensor(rmse, dtype=torch.float64).flatten().cpu()
    values = values[torch.isfinite(values)]
    if values.numel() == 0:
        nan = math.nan
        return {"mean": nan, "std": nan, "median": nan, "min": nan, "max": nan, "n": 0}
    return {
        "mean": float(values.mean()),
        "std": float(values.std(unbiased=False)),
        "median": float(values.median()),
        "min": float(values.min()),
        "max": float(values.max()),
        "n": int(values.numel()),
    }


# ----------------------------------------------------------------------------
# Internals
# ----------------------------------------------------------------------------


@dataclass
class _Features:
    groups: Tensor  # (B, n) feature index of every element, -1 = not selectable
    scores: Tensor  # (B, P) float64 mean element score of each feature
    eligible: Tensor  # (B, P) bool, the feature has at least one element


@dataclass
class _Setup:
    model: Model
    x: Tensor
    target: Tensor
    features: _Features
    order: Tensor
    random_order: Tensor
    batch_size: int | None
    reference: dict[str, Tensor] = field(default_factory=dict)


def _setup(
    model: Model,
    x: Tensor,
    explanation: ExplanationLike | Tensor,
    target: Any,
    feature_mask: Tensor | None,
    feature_map: Tensor | None,
    seed: int | torch.Generator,
    batch_size: int | None,
) -> _Setup:
    """Validate once; rank the features and draw the random baseline."""
    if not callable(model):
        raise InvalidInputError(f"model={model!r} is not callable")
    _check_batch(x, "x")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise InvalidInputError(
            f"batch_size={batch_size!r}; expected a positive integer or None"
        )
    scores = explanation if isinstance(explanation, Tensor) else explanation.scores
    if not isinstance(scores, Tensor) or scores.shape != x.shape:
        shape = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores)
        raise InvalidInputError(
            f"explanation scores have shape {shape}; expected the inputs' shape "
            f"{tuple(x.shape)}"
        )
    if not isinstance(explanation, Tensor):
        if feature_map is None:
            feature_map = getattr(explanation, "feature_map", None)
        if target is None:
            target = getattr(explanation, "target", None)
    features = _features(x, scores.to(x.device), feature_mask, feature_map)
    ties, keys = _draws(_generator(seed), features.eligible.shape, x.device)
    return _Setup(
        model=model,
        x=x,
        target=_target_rows(model, x, target, batch_size),
        features=features,
        order=_top_k_order(features, ties),
        random_order=_random_order(features.eligible, keys),
        batch_size=batch_size,
    )


def _features(
    like: Tensor,
    scores: Tensor | None,
    feature_mask: Tensor | None,
    feature_map: Tensor | None,
) -> _Features:
    """Group the elements into features and score each feature."""
    n, size = like.shape[0], like[0].numel()
    if feature_map is None:
        groups = torch.arange(size, device=like.device).expand(n, size)
    else:
        groups = _flat_map(feature_map, like)
    groups = torch.where(_flat_mask(feature_mask, like), groups, -1)
    width = max(int(groups.max()) + 1, 1)
    slot = torch.where(groups < 0, width, groups)  # non-features go to a spare slot
    counts = torch.zeros(n, width + 1, dtype=torch.float64, device=like.device)
    counts.scatter_add_(1, slot, torch.ones_like(slot, dtype=torch.float64))
    totals = torch.zeros_like(counts)
    if scores is not None:
        totals.scatter_add_(1, slot, _flat_scores(scores))
    eligible = counts[:, :width] > 0
    mean = totals[:, :width] / counts[:, :width].clamp(min=1)
    return _Features(groups=groups, scores=mean, eligible=eligible)


def _run(
    setup: _Setup, test: str, k: int, *, base: Tensor, source: Tensor
) -> FidelityResult:
    """Build the modified inputs for one test and ``k``, and query the model once."""
    _check_k(k, setup.features.eligible)
    n = setup.x.shape[0]
    if test not in setup.reference:  # the k = 0 case, once per test
        setup.reference[test] = target_kept(
            setup.model, base.expand_as(setup.x), setup.target, setup.batch_size
        )
    groups = setup.features.groups
    chosen = _paste(base, source, setup.order[:, :k], groups, setup.x)
    drawn = _paste(base, source, setup.random_order[:, :k], groups, setup.x)
    kept = target_kept(
        setup.model,
        torch.cat([chosen, drawn]),
        torch.cat([setup.target, setup.target]),
        setup.batch_size,
    )
    reference = setup.reference[test]
    logger.debug("fidelity %s k=%d on %d inputs", test, k, n)
    return FidelityResult(
        test=test,
        k=k,
        pcr=_rate(kept[:n]),
        pcr_random=_rate(kept[n:]),
        pcr_reference=_rate(reference),
        kept=kept[:n],
        kept_random=kept[n:],
        kept_reference=reference,
    )


def _paste(
    base: Tensor, source: Tensor, chosen: Tensor, groups: Tensor, x: Tensor
) -> Tensor:
    """``base`` with the elements of the chosen features taken from ``source``.

    ``base`` and ``source`` broadcast to ``x`` ``(B, *shape)``; ``chosen`` is
    ``(B, k)`` feature indices; ``groups`` ``(B, n)`` the feature of every element.
    """
    width = int(groups.max()) + 2  # every feature and a spare slot for -1
    picked = torch.zeros(x.shape[0], width, dtype=torch.bool, device=x.device)
    picked.scatter_(1, chosen, True)
    slot = torch.where(groups < 0, width - 1, groups)
    selected = picked.gather(1, slot).view_as(x)
    return torch.where(selected, source.expand_as(x), base.expand_as(x))


def _target_rows(
    model: Model, x: Tensor, target: Any, batch_size: int | None
) -> Tensor:
    """Resolve the target against the model's output on the first input."""
    with torch.no_grad():
        probe = model(x[:1])
    if not isinstance(probe, Tensor) or probe.ndim < 2 or probe.shape[-1] < 2:
        shape = tuple(probe.shape) if isinstance(probe, Tensor) else type(probe)
        raise InvalidInputError(
            f"the model returned {shape}; expected logits of shape (N, C) or "
            "(N, *S, C) with C >= 2"
        )
    if target is None:
        if probe.ndim != 2:
            raise InvalidInputError(
                "target=None with a model output of shape "
                f"{tuple(probe.shape)}: say which (position, class) is explained"
            )
        with torch.no_grad():
            target = _forward(model, x, batch_size).argmax(-1).cpu()
    rows = resolve_target(target, x.shape[0], probe.ndim)
    _check_target_range(rows, probe.shape)
    return rows.to(x.device)


def _forward(model: Model, x: Tensor, batch_size: int | None) -> Tensor:
    step = batch_size or max(1, x.shape[0])
    return torch.cat([model(x[i : i + step]) for i in range(0, x.shape[0], step)])


def _check_target_range(rows: Tensor, output_shape: torch.Size) -> None:
    limits = torch.tensor(list(output_shape[1:]), dtype=torch.int64)
    if rows.numel() and ((rows < 0).any() or (rows >= limits).any()):
        raise InvalidInputError(
            f"target values range over [{int(rows.min())}, {int(rows.max())}]; "
            f"expected (position..., class) within the model output's shape "
            f"{tuple(output_shape[1:])}"
        )


def _predicted_class(logits: Tensor, rows: Tensor) -> Tensor:
    """The arg-max class at each row's position; ``(N,)``."""
    rows = rows.to(logits.device)
    n = logits.shape[0]
    index: list[Tensor] = [torch.arange(n, device=logits.device)]
    index += [rows[:, j] for j in range(rows.shape[1] - 1)]
    return logits[tuple(index)].argmax(-1).to(rows.device)


def _top_k_order(features: _Features, ties: Tensor) -> Tensor:
    """Eligible features by score, highest first, ties in the order of ``ties``."""
    shuffle = ties.argsort(dim=1)
    eligible = features.eligible.gather(1, shuffle)
    shuffled = features.scores.gather(1, shuffle).masked_fill(~eligible, -math.inf)
    ranked = torch.sort(shuffled, dim=1, descending=True, stable=True).indices
    return shuffle.gather(1, ranked)


def _random_order(eligible: Tensor, keys: Tensor) -> Tensor:
    """Eligible features in a random order (ineligible ones last)."""
    return keys.masked_fill(~eligible, -1.0).argsort(dim=1, descending=True)


def _draws(
    generator: torch.Generator, shape: torch.Size, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Tie-breaking keys and random-selection keys, drawn on the CPU for any device."""
    ties = torch.rand(tuple(shape), generator=generator, dtype=torch.float64)
    keys = torch.rand(tuple(shape), generator=generator, dtype=torch.float64)
    return ties.to(device), keys.to(device)


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidInputError(
            f"seed={seed!r}; expected an integer or a torch.Generator"
        )
    return torch.Generator().manual_seed(int(seed))


def _flat_scores(scores: Tensor) -> Tensor:
    _check_batch(scores, "scores")
    flat = scores.detach().reshape(scores.shape[0], -1).to(torch.float64)
    if not torch.isfinite(flat).all():
        raise InvalidInputError(
            "explanation scores contain NaN or infinite values; expected finite scores"
        )
    return flat


def _flat_mask(feature_mask: Tensor | None, like: Tensor) -> Tensor:
    n, p = like.shape[0], like[0].numel()
    if feature_mask is None:
        return torch.ones(n, p, dtype=torch.bool, device=like.device)
    if not isinstance(feature_mask, Tensor) or feature_mask.dtype != torch.bool:
        given = getattr(feature_mask, "dtype", type(feature_mask).__name__)
        raise InvalidInputError(f"feature_mask is {given}; expected a bool tensor")
    if feature_mask.shape == like.shape[1:]:
        feature_mask = feature_mask.unsqueeze(0).expand_as(like)
    if feature_mask.shape != like.shape:
        raise InvalidInputError(
            f"feature_mask has shape {tuple(feature_mask.shape)}; expected "
            f"{tuple(like.shape)} or {tuple(like.shape[1:])}"
        )
    return feature_mask.reshape(n, p).to(like.device)


def _flat_map(feature_map: Tensor, like: Tensor) -> Tensor:
    if (
        not isinstance(feature_map, Tensor)
        or feature_map.is_floating_point()
        or feature_map.is_complex()
        or feature_map.dtype == torch.bool
    ):
        given = getattr(feature_map, "dtype", type(feature_map).__name__)
        raise InvalidInputError(
            f"feature_map is {given}; expected an integer tensor (-1 = not a feature)"
        )
    if feature_map.shape == like.shape[1:]:
        feature_map = feature_map.unsqueeze(0).expand_as(like)
    if feature_map.shape != like.shape:
        raise InvalidInputError(
            f"feature_map has shape {tuple(feature_map.shape)}; expected "
            f"{tuple(like.shape)} or {tuple(like.shape[1:])}"
        )
    flat = feature_map.reshape(like.shape[0], -1).to(like.device, torch.int64)
    if int(flat.min()) < -1:
        raise InvalidInputError(
            f"feature_map holds {int(flat.min())}; expected feature indices >= 0 "
            "and -1 for elements that are not features"
        )
    return flat


def _check_k(k: int, mask: Tensor) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
        raise InvalidInputError(f"k={k!r}; expected a non-negative integer")
    eligible = int(mask.sum(dim=1).min()) if mask.shape[0] else 0
    if k > eligible:
        raise InvalidInputError(
            f"k={k} but an input has only {eligible} eligible features; expected "
            f"k <= {eligible} (widen feature_mask or lower k)"
        )


def _check_ks(ks: Iterable[int]) -> list[int]:
    values = list(ks)
    if not values:
        raise InvalidInputError("ks is empty; expected at least one value of k")
    return values


def _check_tests(tests: Sequence[str] | None, have_donors: bool) -> list[str]:
    if tests is None:
        return [t for t in TESTS if t != "augmentation" or have_donors]
    unknown = [t for t in tests if t not in TESTS]
    if unknown or not tests:
        raise InvalidInputError(
            f"tests={list(tests)!r}; expected a non-empty subset of {list(TESTS)}"
        )
    return list(tests)


def _check_batch(x: Any, name: str) -> None:
    if not isinstance(x, Tensor):
        raise InvalidInputError(f"{name} is {type(x).__name__}; expected a tensor")
    if x.ndim < 2 or x.shape[0] < 1 or x[0].numel() < 1:
        raise InvalidInputError(
            f"{name} has shape {tuple(x.shape)}; expected a batch (B, *input_shape) "
            "with B >= 1 and at least one feature"
        )


def _fill_tensor(value: float | Tensor, x: Tensor, name: str) -> Tensor:
    """A number or tensor broadcastable to ``x``, in ``x``'s dtype and device."""
    t = torch.as_tensor(value, device=x.device)
    if t.dtype == torch.bool or t.is_complex():
        raise InvalidInputError(f"{name} has dtype {t.dtype}; expected real numbers")
    if not x.is_floating_point() and t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise InvalidInputError(
                f"{name} holds non-integer values for integer inputs of dtype "
                f"{x.dtype}; expected integers (e.g. the padding token 0)"
            )
    try:
        torch.broadcast_shapes(t.shape, x.shape)
    except RuntimeError as err:
        raise InvalidInputError(
            f"{name} has shape {tuple(t.shape)}; expected a number or a tensor "
            f"broadcastable to the inputs' shape {tuple(x.shape)}"
        ) from err
    return t.to(x.dtype).expand_as(x)


def _donor_tensor(donors: Tensor, x: Tensor) -> Tensor:
    if not isinstance(donors, Tensor):
        raise InvalidInputError(
            f"donors is {type(donors).__name__}; expected a tensor of inputs"
        )
    if donors.shape == x.shape[1:]:
        donors = donors.unsqueeze(0)
    if donors.shape[1:] != x.shape[1:] or donors.shape[0] not in (1, x.shape[0]):
        raise InvalidInputError(
            f"donors has shape {tuple(donors.shape)}; expected {tuple(x.shape)} (one "
            f"donor per input) or {tuple(x.shape[1:])} (one donor for all)"
        )
    if donors.dtype != x.dtype:
        raise InvalidInputError(
            f"donors has dtype {donors.dtype}; expected the inputs' dtype {x.dtype}"
        )
    return donors.to(x.device).expand_as(x)


def _rate(kept: Tensor) -> float:
    return float(kept.float().mean()) if kept.numel() else math.nan
