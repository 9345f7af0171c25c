"""What a method receives, and the pipeline shared by the surrogate methods.

:func:`torchxai.explain` checks the model, the inputs, the target and the common
options once and hands a method an :class:`ExplainTask`. The surrogate methods
(LEMNA, LIME) then share :func:`fit_surrogates`: draw keep-masks for every input,
query the model on the perturbed copies, fit the method's surrogate on
(masks, target probabilities), and assemble the :class:`Explanation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.queries import TargetModel, query_perturbations
from torchxai.samplers import feature_counts, stack_masks


@dataclass
class ExplainTask:
    """A checked explanation problem, ready for a method.

    Attributes:
        model: the wrapped model, answering checked probabilities.
        raw_model: the callable the user passed.
        inputs: (B, *input_shape) the explained inputs, on the model's device.
        target: (B,) int64 classes, or (B, 2) int64 ``(position, class)``.
        target_probability: (B,) the model's probability of the target on each input.
        sampler: ``"tabular"``, ``"sequence"`` or ``"image"``.
        feature_map: (B, *input_shape) int64 feature of each element, -1 if none.
        baseline: a tensor broadcastable to (B, *input_shape): the value of a
            switched-off feature.
        generators: one seeded CPU generator per input.
        seed: the run's seed.
        n_samples: perturbed samples per input, the unperturbed input included.
        fit_batch_size: inputs whose samples are queried and fitted together, or
            None to size the chunks by memory (:func:`fit_chunk_size`).
        progress: whether to show progress bars.
        common_options: the resolved options common to all methods, JSON-able.
    """

    model: TargetModel
    raw_model: Callable[..., Any]
    inputs: Tensor
    target: Tensor
    target_probability: Tensor
    sampler: str
    feature_map: Tensor
    baseline: Tensor
    generators: list[torch.Generator]
    seed: int
    n_samples: int
    fit_batch_size: int | None
    progress: bool
    common_options: dict[str, Any]

    @property
    def batch_size(self) -> int:
        """The number B of explained inputs."""
        return int(self.inputs.shape[0])

    @property
    def n_features(self) -> Tensor:
        """(B,) int64 number of features of each input (on the CPU)."""
        return feature_counts(self.feature_map).cpu()

    def scores_from_features(self, feature_scores: Tensor) -> Tensor:
        """Spread per-feature scores over the input elements.

        Args:
            feature_scores: (B, p) scores; p at least the largest feature count.

        Returns:
            (B, *input_shape) scores, 0 for elements that are not features.
        """
        flat_map = self.feature_map.reshape(self.batch_size, -1)
        values = torch.gather(
            feature_scores.to(self.inputs.device), 1, flat_map.clamp(min=0)
        )
        values = torch.where(flat_map >= 0, values, torch.zeros_like(values))
        return values.reshape(self.inputs.shape)


@dataclass
class SurrogateFit:
    """A surrogate fitted for a group of G inputs with p features each.

    Attributes:
        coef: (G, K, p) coefficients of the components.
        intercept: (G, K) intercepts.
        mixing: (G, K) mixing weights.
        component: (G,) int64 the component covering the explained input.
        prediction: (G, n) the surrogate's prediction on the samples, compared with
            the model's outputs for ``fit_rmse``.
    """

    coef: Tensor
    intercept: Tensor
    mixing: Tensor
    component: Tensor
    prediction: Tensor


SurrogateFitter = Callable[[Tensor, Tensor, list[torch.Generator]], SurrogateFit]
"""``fitter(X (G, n, p) float masks, y (G, n) target probabilities, generators)``."""


def check_enough_samples(task: ExplainTask) -> None:
    """Raise if some input has more features than there are samples.

    Raises:
        InvalidInputError: naming ``n_samples``, the feature count and the fix.
    """
    counts = task.n_features
    worst = int(counts.argmax())
    if task.n_samples < int(counts[worst]):
        hint = (
            ", or group pixels into segments with segments=<integer mask>"
            if task.sampler == "image"
            else ""
        )
        raise InvalidInputError(
            f"n_samples={task.n_samples} is fewer than the {int(counts[worst])} "
            f"features of input {worst} (sampler {task.sampler!r}); pass n_samples >= "
            f"{int(counts[worst])}{hint}"
        )
    if int(counts.min()) < 1:
        raise InvalidInputError(
            f"input {int(counts.argmin())} has no features to perturb; check the "
            "segments or the window"
        )


FIT_ELEMENTS = 1 << 26
"""Auto chunks keep (inputs x problems per input x n x p) under this many elements."""
MAX_AUTO_CHUNK = 1024


def fit_chunk_size(
    task: ExplainTask, problems_per_input: int = 1, n_features: int | None = None
) -> int:
    """Inputs per chunk: ``task.fit_batch_size``, or as many as fit the budget.

    Args:
        task: the checked problem.
        problems_per_input: regressions fitted per input (LEMNA: K).
        n_features: p of the chunk (default: the largest feature count).

    Returns:
        The chunk size, at least 1.
    """
    if task.fit_batch_size is not None:
        return task.fit_batch_size
    p = int(task.n_features.max()) if n_features is None else n_features
    per_input = max(1, problems_per_input * task.n_samples * p)
    return max(1, min(MAX_AUTO_CHUNK, FIT_ELEMENTS // per_input))


def fit_surrogates(
    task: ExplainTask,
    method: str,
    options: dict[str, Any],
    fitter: SurrogateFitter,
    problems_per_input: int = 1,
) -> Explanation:
    """Sample, query and fit a surrogate for every input; build the Explanation.

    Inputs are processed in groups of equal feature count, in chunks of
    :func:`fit_chunk_size` inputs.

    Args:
        task: the checked problem.
        method: the method's name, recorded in the explanation.
        options: the method's resolved options, recorded in the explanation.
        fitter: fits the surrogate of a chunk of inputs.
        problems_per_input: regressions the fitter solves per input, for sizing
            the chunks.

    Returns:
        The explanation, with ``fit_rmse`` the root mean squared difference between
        ``fit.prediction`` and the model's outputs over the n samples.
    """
    check_enough_samples(task)
    counts = task.n_features
    batch, width = task.batch_size, int(counts.max())
    device = task.inputs.device
    fits: list[tuple[Tensor, SurrogateFit, Tensor]] = []
    chunks = _chunks(counts, fit_chunk_size(task, problems_per_input))
    if task.progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"{method} fits", unit="chunk")
    for rows in chunks:
        n_features = int(counts[rows[0]])
        generators = [task.generators[int(i)] for i in rows]
        masks = stack_masks(generators, task.n_samples, n_features).to(device)
        rows_d = rows.to(device)
        y = query_perturbations(
            task.model,
            task.inputs[rows_d],
            task.feature_map[rows_d],
            masks,
            _rows_of(task.baseline, rows_d, task.inputs.shape),
            task.target[rows_d],
        )
        X = masks.to(y.dtype)
        fit = fitter(X, y, generators)
        rmse = ((fit.prediction - y) ** 2).mean(dim=1).sqrt()
        fits.append((rows_d, fit, rmse))
    return _assemble(task, method, options, fits, batch, width)


def _assemble(
    task: ExplainTask,
    method: str,
    options: dict[str, Any],
    fits: list[tuple[Tensor, SurrogateFit, Tensor]],
    batch: int,
    width: int,
) -> Explanation:
    first = fits[0][1]
    dtype, device = first.coef.dtype, first.coef.device
    n_components = first.coef.shape[1]
    coef = torch.zeros(batch, n_components, width, dtype=dtype, device=device)
    intercept = torch.zeros(batch, n_components, dtype=dtype, device=device)
    mixing = torch.zeros(batch, n_components, dtype=dtype, device=device)
    component = torch.zeros(batch, dtype=torch.int64, device=device)
    rmse = torch.zeros(batch, dtype=dtype, device=device)
    for rows, fit, fit_rmse in fits:
        coef[rows, :, : fit.coef.shape[2]] = fit.coef
        intercept[rows] = fit.intercept
        mixing[rows] = fit.mixing
        component[rows] = fit.component
        rmse[rows] = fit_rmse.to(dtype)
    feature_scores = coef[torch.arange(batch, device=device), component]
    return Explanation(
        scores=task.scores_from_features(feature_scores),
        method=method,
        target=task.target,
        fit_rmse=rmse,
        options={**task.common_options, **jsonable(options)},
        seed=task.seed,
        feature_map=task.feature_map,
        feature_scores=feature_scores,
        coefficients=coef,
        intercepts=intercept,
        mixing_weights=mixing,
        component=component,
        target_probability=task.target_probability,
    )


def _chunks(counts: Tensor, size: int) -> list[Tensor]:
    """Input indices grouped by feature count, in chunks of ``size``."""
    chunks = []
    for value in torch.unique(counts):
        rows = torch.nonzero(counts == value).flatten()
        chunks.extend(rows.split(size))
    return chunks


def _rows_of(baseline: Tensor, rows: Tensor, shape: torch.Size) -> Tensor:
    """The baseline of some inputs: broadcast to the batch, then indexed."""
    return torch.broadcast_to(baseline, shape)[rows]


def jsonable(options: dict[str, Any]) -> dict[str, Any]:
    """Options with tensors turned into nested lists, for JSON."""
    out = {}
    for key, value in options.items():
        if isinstance(value, Tensor):
            value = value.detach().cpu().tolist()
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out
