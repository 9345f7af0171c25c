"""The explainers patching uses: LEMNA (default) and the random control.

An explainer is any callable ``(model, windows, targets) -> Explanation``:

* ``model``: the model being patched, tokens (E, L) -> logits (E, L, 2);
* ``windows``: int64 (E, L) the windows holding the errors, on the CPU;
* ``targets``: int64 (E, 2) ``(position, predicted class)`` of each error;

and returns anything with ``scores`` float (E, L) (larger = more support for the
wrong prediction) and optionally ``feature_map`` int64 (E, L) (-1 outside the
explanation's features), such as :class:`torchxai.explanation.Explanation`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.patching._checks import check_int, model_device

__all__ = [
    "Explainer",
    "ExplanationLike",
    "LemnaExplainer",
    "RandomWindowExplainer",
    "explain_errors",
    "explainer_name",
]

logger = logging.getLogger(__name__)


class ExplanationLike(Protocol):
    """What patching reads from an explanation: per-position scores."""

    @property
    def scores(self) -> Tensor: ...


Explainer = Callable[[nn.Module, Tensor, Tensor], ExplanationLike]


class LemnaExplainer:
    """LEMNA through :func:`torchxai.explain`, for a model that returns logits.

    Args:
        seed: the explanation seed.
        **options: further options of ``torchxai.explain(..., method="lemna")``
            (``n_samples``, ``window``, ``n_components``, ...).
    """

    name = "lemna"

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.seed = check_int(seed, "seed", 0)
        self.options = dict(options)

    def __call__(self, model: nn.Module, windows: Tensor, targets: Tensor) -> Any:
        """Explain each window's target; see the module docs."""
        from torchxai.explain import explain

        device = model_device(model)
        options = {"output": "logits", **self.options}
        return explain(
            model,
            windows.to(device),
            method="lemna",
            target=targets.to(device),
            seed=self.seed,
            **options,
        )


class RandomWindowExplainer:
    """The control: uniform random scores on the positions LEMNA would consider.

    Each window gets scores drawn uniformly from [0, 1) on the ``window``
    positions around its target position (the features of LEMNA's sequence
    sampler) and 0 elsewhere, so the crafted samples change random positions of the
    same neighbourhood. Each row's generator is seeded from ``seed`` and the row's
    content and target, so the draws do not depend on how the errors are batched.

    Args:
        seed: the seed.
        window: the number of positions around the target (LEMNA's default 40).
    """

    name = "random"

    def __init__(self, seed: int = 0, window: int = 40) -> None:
        self.seed = check_int(seed, "seed", 0)
        self.window = check_int(window, "window", 1)

    def __call__(self, model: nn.Module, windows: Tensor, targets: Tensor) -> Any:
        """Random scores (E, L) for int64 windows (E, L) and targets (E, 2)."""
        from torchxai.explanation import Explanation
        from torchxai.samplers import input_generators, sequence_feature_map

        windows, targets = windows.cpu(), targets.cpu()
        feature_map = sequence_feature_map(windows, targets[:, 0], self.window)
        draws = [
            torch.rand(windows.shape[1], generator=generator)
            for generator in input_generators(self.seed, windows, targets)
        ]
        uniform = torch.stack(draws) if draws else torch.zeros(windows.shape)
        return Explanation(
            scores=torch.where(feature_map >= 0, uniform, torch.zeros(())),
            method="random",
            target=targets,
            fit_rmse=torch.full((windows.shape[0],), float("nan")),
            options={"window": self.window},
            seed=self.seed,
            feature_map=feature_map,
        )


def explainer_name(explainer: object) -> str:
    """A readable name: the ``name`` attribute, else the function or class name."""
    name = getattr(explainer, "name", None)
    if isinstance(name, str):
        return name
    return getattr(explainer, "__name__", type(explainer).__name__)


def _chunks(n: int, size: int, progress: bool) -> Iterator[int]:
    starts: Any = range(0, n, size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="explaining errors", unit="batch")
    yield from starts


def explain_errors(
    explainer: Explainer,
    model: nn.Module,
    windows: Tensor,
    targets: Tensor,
    *,
    batch_size: int = 64,
    progress: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Call ``explainer`` on the errors in batches and collect its scores.

    Args:
        explainer: see the module docs.
        model: the model to explain (its mode is left as it is).
        windows: int64 (E, L) the window of each error.
        targets: int64 (E, 2) ``(position, predicted class)``.
        batch_size: errors per explainer call.
        progress: show a tqdm bar over the calls.

    Returns:
        ``scores`` float (E, L) on the CPU, and ``feature_mask`` bool (E, L) (True on
        the explanation's features), or None if the explainer gives no
        ``feature_map``.

    Raises:
        InvalidInputError: the explainer's result has no ``scores`` of shape (e, L).
    """
    check_int(batch_size, "explain_batch_size", 1)
    n, length = windows.shape
    scores, masks = [], []
    for start in _chunks(n, batch_size, progress):
        part_windows = windows[start : start + batch_size]
        part_targets = targets[start : start + batch_size]
        result = explainer(model, part_windows, part_targets)
        part_scores = getattr(result, "scores", None)
        if (
            not isinstance(part_scores, Tensor)
            or part_scores.shape != part_windows.shape
        ):
            shape = (
                tuple(part_scores.shape) if isinstance(part_scores, Tensor) else None
            )
            raise InvalidInputError(
                f"explainer {explainer_name(explainer)!r} must return an object with "
                f"'scores' of shape {tuple(part_windows.shape)} (one per position); "
                f"got scores of shape {shape}"
            )
        scores.append(part_scores.detach().to("cpu", torch.float64))
        feature_map = getattr(result, "feature_map", None)
        masks.append(None if feature_map is None else feature_map.detach().cpu() >= 0)
    if not scores:
        return torch.zeros(0, length, dtype=torch.float64), None
    if any(mask is None for mask in masks):
        return torch.cat(scores), None
    return torch.cat(scores), torch.cat([m for m in masks if m is not None])
