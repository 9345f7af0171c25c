"""The bootstrap fidelity tests of a class explanation (Guo et al., NeurIPS 2018).

The DMM-MEN paper judges a global explanation of a class c by three tests, each
repeated on bootstrap samples of the explained inputs and compared with the same
operation on features picked at random. With ``S`` the explanation's top ``k``
features and "accuracy" the fraction of test cases the model assigns to class c:

* **nullification** ("bootstrapped positive samples"): inputs of class c with their
  top-``k`` features set to ``null_value``. Only features that are present in the
  input (value != ``null_value``) count, as in the seed code, so all ``k`` changes
  are real. A faithful explanation makes the accuracy *drop*.
* **filling** ("bootstrapped negative samples"): inputs of another class with the
  features in ``S`` copied from an input of class c. A faithful explanation makes
  the accuracy *rise*.
* **pathological** ("new testing cases"): noise images, ``N(noise_mean,
  noise_std)`` per element, carrying the features in ``S`` of an input of class c.
  A faithful explanation makes the accuracy *rise*.

Each of ``n_rounds`` rounds draws ``fraction`` of the class-c inputs without
replacement (and as many other-class inputs for filling). The selection can be one
ranking for the whole class (a DMM component's coefficients) or one ranking per
class-c input (any local explainer): each test case then uses the ranking of the
class-c input it is built from.

Deviations from the seed code (``dmm-mem/code/xai_cnn_dmm_men.py``): the seed draws
its 30% subset once and repeats only the random baseline; here every round draws
a new subset. The seed transplants the values of one "representative" input
amplified (x5 for filling, x3 for the pathological test) and nullifies to
``-0.5 x``; here each test case takes the values of its own class-c input
(``fill_scale`` = 1, adjustable) and nullifies to ``null_value`` (0). The seed's
random baseline sets random pixels to 0 (nullification) or 1 (filling,
pathological); here the baseline applies the *same* operation to ``k`` random
features (present ones for nullification) drawn from ``random_pool``, so the two
arms differ only in which features are chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchxai.bayes._validate import check_float, check_int
from torchxai.errors import InvalidInputError

TESTS = ("nullification", "filling", "pathological")
HIGHER_IS_BETTER = {"nullification": False, "filling": True, "pathological": True}


@dataclass(frozen=True)
class BootstrapFidelityResult:
    """Accuracy per bootstrap round of one test, selected and random features.

    Attributes:
        test: ``"nullification"``, ``"filling"`` or ``"pathological"``.
        n_features: k, the number of features changed per test case.
        accuracy: (R,) fraction of test cases classified as the class, top-k features.
        accuracy_random: (R,) the same with k random features.
    """

    test: str
    n_features: int
    accuracy: Tensor
    accuracy_random: Tensor

    @property
    def higher_is_better(self) -> bool:
        """Whether a faithful explanation raises the accuracy."""
        return HIGHER_IS_BETTER[self.test]

    @property
    def mean(self) -> float:
        """Mean accuracy over rounds, top-k features."""
        return float(self.accuracy.mean())

    @property
    def mean_random(self) -> float:
        """Mean accuracy over rounds, random features."""
        return float(self.accuracy_random.mean())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "test": self.test,
            "n_features": self.n_features,
            "higher_is_better": self.higher_is_better,
            "accuracy": self.accuracy.tolist(),
            "accuracy_random": self.accuracy_random.tolist(),
            "mean": self.mean,
            "std": float(self.accuracy.std()) if self.accuracy.numel() > 1 else 0.0,
            "mean_random": self.mean_random,
            "std_random": (
                float(self.accuracy_random.std())
                if self.accuracy_random.numel() > 1
                else 0.0
            ),
        }


def format_results(results: dict[str, BootstrapFidelityResult]) -> str:
    """A small text table: test, k, accuracy (mean +- sd) selected vs random."""
    lines = [f"{'test':<14}{'k':>5}  {'selected':>16}  {'random':>16}  better"]
    for result in results.values():
        row = result.to_dict()
        arrow = "higher" if result.higher_is_better else "lower"
        lines.append(
            f"{result.test:<14}{result.n_features:>5}  "
            f"{row['mean']:>8.3f} +- {row['std']:<5.3f}  "
            f"{row['mean_random']:>8.3f} +- {row['std_random']:<5.3f}  {arrow}"
        )
    return "\n".join(lines)


def _check_inputs(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor) or value.dim() < 2 or value.shape[0] < 1:
        shape = (
            tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        )
        raise InvalidInputError(
            f"{name} must be a tensor (n, *input_shape) with n >= 1, got {shape}."
        )
    if not value.is_floating_point():
        raise InvalidInputError(f"{name} must be floating point, got {value.dtype}.")
    return value


def _check_selection(selection: object, n: int, numel: int, k: int) -> Tensor:
    if not isinstance(selection, Tensor) or selection.dim() not in (1, 2):
        raise InvalidInputError(
            "selection must be a ranking of flat feature indices, (m,) for the class "
            f"or ({n}, m) per input, got {getattr(selection, 'shape', selection)!r}."
        )
    if selection.dim() == 2 and selection.shape[0] != n:
        raise InvalidInputError(
            f"selection has {selection.shape[0]} rows; a per-input ranking needs one "
            f"row per positive input ({n})."
        )
    if selection.shape[-1] < k:
        raise InvalidInputError(
            f"selection ranks {selection.shape[-1]} features, fewer than "
            f"n_features={k}."
        )
    selection = selection.to(torch.int64)
    if bool((selection < 0).any()) or bool((selection >= numel).any()):
        raise InvalidInputError(
            f"selection holds indices outside [0, {numel}), the flat input size."
        )
    return selection


def _predicted_is(
    model: Callable[[Tensor], Tensor], x: Tensor, target: int, batch: int
) -> Tensor:
    with torch.no_grad():
        outputs = [model(x[s : s + batch]) for s in range(0, x.shape[0], batch)]
    return torch.cat(outputs).argmax(dim=-1) == target


def _first_present(ranking: Tensor, flat: Tensor, null_value: float, k: int) -> Tensor:
    """(m, D) bool mask of the first k ranked features of each row that are present."""
    present = flat.gather(1, ranking) != null_value
    take = present & (present.cumsum(dim=1) <= k)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    return mask.scatter(1, ranking, take)


def _top_ranked(ranking: Tensor, rows: int, width: int, k: int) -> Tensor:
    """(rows, D) bool mask of the first k ranked features."""
    ranking = ranking.expand(rows, -1)[:, :k]
    mask = torch.zeros(rows, width, dtype=torch.bool, device=ranking.device)
    return mask.scatter(1, ranking, True)


def _random_mask(eligible: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """(m, D) bool: k features drawn uniformly among each row's eligible ones."""
    keys = torch.rand(eligible.shape, generator=generator).to(eligible.device)
    keys = torch.where(eligible, keys, -1.0)
    top = keys.topk(min(k, eligible.shape[1]), dim=1)
    chosen = torch.zeros_like(eligible).scatter(1, top.indices, True)
    return chosen & eligible


def bootstrap_fidelity(
    model: Callable[[Tensor], Tensor],
    positives: Tensor,
    selection: Tensor,
    target_class: int,
    *,
    negatives: Tensor | None = None,
    tests: Sequence[str] | None = None,
    n_features: int = 75,
    n_rounds: int = 10,
    fraction: float = 0.3,
    null_value: float = 0.0,
    fill_scale: float = 1.0,
    noise_mean: float = 0.03,
    noise_std: float = 0.01,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    random_pool: Tensor | None = None,
    seed: int = 0,
    batch_size: int = 1024,
) -> dict[str, BootstrapFidelityResult]:
    """Run the NeurIPS 2018 bootstrap fidelity tests of a class explanation.

    Args:
        model: maps (N, *input_shape) to (N, C) logits or probabilities.
        positives: (n, *input_shape) inputs of the explained class.
        selection: ranking of flat feature indices, most important first: (m,) for
            the whole class or (n, m) one per positive input; m >= ``n_features``.
        target_class: the explained class c.
        negatives: (n_neg, *input_shape) inputs of other classes; needed by filling.
        tests: a subset of ``("nullification", "filling", "pathological")``;
            default all (filling only when ``negatives`` is given).
        n_features: k, features changed per test case (the paper uses 75).
        n_rounds: bootstrap rounds (10).
        fraction: share of the positives drawn per round (0.3).
        null_value: the value of a nullified feature.
        fill_scale: factor on the transplanted values (the seed: 5 and 3).
        noise_mean: mean of the pathological noise (the seed: 0.03).
        noise_std: standard deviation of the pathological noise (0.01).
        value_range: clamp of the noise and transplanted values; None for none.
        random_pool: (q,) flat indices the random baseline draws from; default all.
        seed: seed of every draw.
        batch_size: inputs per model call.

    Returns:
        The :class:`BootstrapFidelityResult` of each test, by name.
    """
    positives = _check_inputs("positives", positives)
    n, shape = positives.shape[0], tuple(positives.shape[1:])
    width = math.prod(shape)
    k = check_int("n_features", n_features, 1)
    if k > width:
        raise InvalidInputError(f"n_features must be at most {width}, got {k}.")
    selection = _check_selection(selection, n, width, k).to(positives.device)
    check_int("n_rounds", n_rounds, 1)
    check_float("fraction", fraction, low=0.0, high=1.0, high_open=False)
    check_float("noise_std", noise_std, low=0.0, low_open=False)
    chosen_tests = _check_tests(tests, negatives is not None)
    if negatives is not None:
        negatives = _check_inputs("negatives", negatives).to(positives.device)
        if tuple(negatives.shape[1:]) != shape:
            raise InvalidInputError(
                f"negatives have input shape {tuple(negatives.shape[1:])}, positives "
                f"{shape}."
            )
    pool = torch.ones(width, dtype=torch.bool, device=positives.device)
    if random_pool is not None:
        pool = torch.zeros_like(pool)
        pool[torch.as_tensor(random_pool, dtype=torch.int64, device=pool.device)] = True

    run = _Runner(
        model,
        target_class,
        k,
        null_value,
        fill_scale,
        value_range,
        pool,
        check_int("batch_size", batch_size, 1),
        shape,
    )
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    size = max(1, int(fraction * n))
    scores: dict[str, list[tuple[float, float]]] = {test: [] for test in chosen_tests}
    flat_pos = positives.reshape(n, width)
    for _ in range(n_rounds):
        rows = torch.randperm(n, generator=generator)[:size].to(positives.device)
        ranking = selection if selection.dim() == 1 else selection[rows]
        drawn = flat_pos[rows]
        for test in chosen_tests:
            if test == "nullification":
                pair = run.nullification(drawn, ranking, generator)
            elif test == "filling":
                assert negatives is not None
                picks = _draw(negatives.shape[0], size, generator).to(positives.device)
                hosts = negatives.reshape(negatives.shape[0], width)[picks]
                pair = run.transplant(hosts, drawn, ranking, generator)
            else:
                noise = torch.randn(size, width, generator=generator, dtype=drawn.dtype)
                hosts = (noise_mean + noise_std * noise).to(positives.device)
                hosts = run.clamp(hosts)
                pair = run.transplant(hosts, drawn, ranking, generator)
            scores[test].append(pair)
    return {
        test: BootstrapFidelityResult(
            test=test,
            n_features=k,
            accuracy=torch.tensor([s for s, _ in values], dtype=torch.float64),
            accuracy_random=torch.tensor([r for _, r in values], dtype=torch.float64),
        )
        for test, values in scores.items()
    }


def _check_tests(tests: Sequence[str] | None, have_negatives: bool) -> list[str]:
    if tests is None:
        return [t for t in TESTS if t != "filling" or have_negatives]
    chosen = list(tests)
    unknown = [t for t in chosen if t not in TESTS]
    if unknown or not chosen:
        raise InvalidInputError(
            f"tests must be a non-empty subset of {TESTS}, got {tests!r}."
        )
    if "filling" in chosen and not have_negatives:
        raise InvalidInputError(
            "the filling test needs negatives (inputs of other classes); pass "
            "negatives= or leave 'filling' out of tests."
        )
    return chosen


def _draw(population: int, size: int, generator: torch.Generator) -> Tensor:
    """``size`` indices without replacement where possible, else with replacement."""
    if size <= population:
        return torch.randperm(population, generator=generator)[:size]
    return torch.randint(population, (size,), generator=generator)


@dataclass
class _Runner:
    """The three operations, each returning (accuracy selected, accuracy random)."""

    model: Callable[[Tensor], Tensor]
    target: int
    k: int
    null_value: float
    fill_scale: float
    value_range: tuple[float, float] | None
    pool: Tensor
    batch_size: int
    shape: tuple[int, ...]

    def clamp(self, x: Tensor) -> Tensor:
        if self.value_range is None:
            return x
        return x.clamp(self.value_range[0], self.value_range[1])

    def accuracy(self, flat: Tensor) -> float:
        x = flat.reshape(flat.shape[0], *self.shape)
        return float(
            _predicted_is(self.model, x, self.target, self.batch_size).double().mean()
        )

    def nullification(
        self, drawn: Tensor, ranking: Tensor, generator: torch.Generator
    ) -> tuple[float, float]:
        rows, width = drawn.shape
        full = ranking.expand(rows, -1)
        selected = _first_present(full, drawn, self.null_value, self.k)
        present = (drawn != self.null_value) & self.pool
        random = _random_mask(present, self.k, generator)
        return (
            self.accuracy(drawn.masked_fill(selected, self.null_value)),
            self.accuracy(drawn.masked_fill(random, self.null_value)),
        )

    def transplant(
        self, hosts: Tensor, donors: Tensor, ranking: Tensor, generator: torch.Generator
    ) -> tuple[float, float]:
        rows, width = hosts.shape
        selected = _top_ranked(ranking, rows, width, self.k)
        random = _random_mask(self.pool.expand(rows, -1), self.k, generator)
        values = self.clamp(donors * self.fill_scale)
        return (
            self.accuracy(torch.where(selected, values, hosts)),
            self.accuracy(torch.where(random, values, hosts)),
        )
