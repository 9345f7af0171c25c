"""What a method receives, and the pipeline shared by the surrogate methods.

:func:`torchxai.explain` checks the model, the inputs, the target and the common
options once and hands a method an :class:`ExplainTask`. The surrogate methods
(LEMNA, LIME) then share :func:`fit_surrogates`: draw keep-masks for every input,
query the model on the perturbed copies, fit the method's surrogate on
(masks, target probabilities), and assemble the :class:`Explanation`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchxai.batched import is_batch_invariant
from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.queries import TargetModel, query_perturbations
from torchxai.samplers import (
    drop_baseline_features,
    feature_counts,
    sample_masks,
    stack_masks,
)


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

    def perturbable(self) -> ExplainTask:
        """The task with only the features a perturbation method switches off.

        With the common option ``skip_baseline_features`` (the default) the features
        whose elements all equal the baseline are dropped from the feature map and
        the others numbered again (:func:`torchxai.samplers.drop_baseline_features`):
        switching them off changes nothing. An input may have no features left (an
        all-baseline input). Without the option this is the task itself.
        """
        if not self.common_options.get("skip_baseline_features", False):
            return self
        kept = drop_baseline_features(self.feature_map, self.inputs, self.baseline)
        return dataclasses.replace(self, feature_map=kept)

    def switchable(self, perturbable: ExplainTask | None = None) -> Tensor:
        """(B, p) bool: the features of :meth:`perturbable`, in the full numbering.

        Args:
            perturbable: the task's :meth:`perturbable`, if the caller has it
                already; None computes it.

        Returns:
            (B, p) bool on the CPU, p the largest feature count of the task (at
            least 1); False past an input's last feature.
        """
        batch = self.batch_size
        full = self.feature_map.reshape(batch, -1)
        moving = self.perturbable() if perturbable is None else perturbable
        kept = moving.feature_map.reshape(batch, -1)
        width = max(int(self.n_features.max()), 1)
        out = torch.zeros(batch, width + 1, dtype=torch.bool, device=full.device)
        out.scatter_(1, torch.where(kept >= 0, full, width), True)
        return out[:, :width].cpu()


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


def check_features(task: ExplainTask) -> None:
    """Raise if some input has no features (before any are dropped as baseline).

    Raises:
        InvalidInputError: naming the input and what to check.
    """
    counts = task.n_features
    if counts.numel() and int(counts.min()) < 1:
        raise InvalidInputError(
            f"input {int(counts.argmin())} has no features to perturb; check the "
            "segments or the window"
        )


def check_enough_samples(task: ExplainTask, counts: Tensor) -> None:
    """Raise if some input has more features to switch off than there are samples.

    Args:
        task: the checked problem.
        counts: (B,) the number of features each input's masks switch off.

    Raises:
        InvalidInputError: naming ``n_samples``, the feature count and the fix.
    """
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
    pad_columns: bool = False,
) -> Explanation:
    """Sample, query and fit a surrogate for every input; build the Explanation.

    The masks switch off only the features of :meth:`ExplainTask.switchable`
    (with ``skip_baseline_features``, those away from the baseline), and the
    surrogate is fitted on just those columns, in their order: a feature held at
    the baseline is no column of the design, so it gets coefficient 0 and costs
    the fit nothing (the PDF MLP's malicious rows have about 50 of 135 features
    away from 0). In the fused lasso the features on either side of a held one
    become neighbours. Inputs are processed in chunks of :func:`fit_chunk_size`
    inputs with the same count of switchable features, or, with ``pad_columns``,
    in chunks of any counts (sorted by count), each design padded to the chunk's
    largest count with columns that are 1 in every mask. A constant column is 0
    once the solvers centre the design, so it changes nothing in a lasso solved to
    tolerance (LIME), and a chunk of 64 PDFs with 33 different counts becomes one
    fit instead of 33. LEMNA does not pad: in a fused lasso such a column would
    join its neighbours, and its EM with capped M-steps would carry the slightly
    different step sizes of a wider design (the largest eigenvalue is estimated
    from a start vector of the design's width) into differences well above
    rounding. In the batch-invariant mode (:mod:`torchxai.batched`) chunks never
    pad, so that an input's design does not depend on the others. An input with
    nothing to switch off is not queried and gets zero coefficients, its own
    probability as intercept and ``fit_rmse`` 0 (every perturbation of it is the
    input itself).

    Args:
        task: the checked problem.
        method: the method's name, recorded in the explanation.
        options: the method's resolved options, recorded in the explanation.
        fitter: fits the surrogate of a chunk of inputs.
        problems_per_input: regressions the fitter solves per input, for sizing
            the chunks.
        pad_columns: whether inputs of different feature counts may share a
            chunk (only for fitters without a fused term).

    Returns:
        The explanation, with ``fit_rmse`` the root mean squared difference between
        ``fit.prediction`` and the model's outputs over the n samples, and the
        coefficients in the task's feature numbering.
    """
    moving = task.perturbable()  # its feature map numbers just those features
    switchable = task.switchable(moving)
    counts = switchable.sum(dim=1)  # 0: nothing to query or fit
    check_enough_samples(task, counts)
    batch, width = task.batch_size, switchable.shape[1]
    device = task.inputs.device
    fits: list[tuple[Tensor, Tensor, SurrogateFit, Tensor]] = []
    pad = pad_columns and not is_batch_invariant()
    chunks = _chunks(counts, fit_chunk_size(task, problems_per_input), pad)
    if task.progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc=f"{method} fits", unit="chunk")
    for rows in chunks:
        generators = [task.generators[int(i)] for i in rows]
        masks = _padded_masks(generators, task.n_samples, counts[rows]).to(device)
        rows_d = rows.to(device)
        y = query_perturbations(
            task.model,
            task.inputs[rows_d],
            moving.feature_map[rows_d],
            masks,
            _rows_of(task.baseline, rows_d, task.inputs.shape),
            task.target[rows_d],
        )
        X = masks.to(y.dtype)
        fit = fitter(X, y, generators)
        rmse = ((fit.prediction - y) ** 2).mean(dim=1).sqrt()
        columns = _fit_columns(switchable[rows], masks.shape[2])
        fits.append((rows_d, columns.to(device), fit, rmse))
    return _assemble(task, method, options, fits, batch, width)


def _assemble(
    task: ExplainTask,
    method: str,
    options: dict[str, Any],
    fits: list[tuple[Tensor, Tensor, SurrogateFit, Tensor]],
    batch: int,
    width: int,
) -> Explanation:
    """The Explanation of the fitted chunks.

    Each chunk is ``(rows (G,), columns (G, q), fit, rmse (G,))``: column j of the
    chunk's fit is feature ``columns[:, j]`` of the task (of ``width`` features),
    or a padding column if that is ``width``; padding columns are 1 in every
    sample, so what the fit gave them belongs to the intercept.
    """
    device = task.inputs.device
    if fits:
        dtype, n_components = fits[0][2].coef.dtype, fits[0][2].coef.shape[1]
    else:  # no input has features
        dtype, n_components = task.target_probability.dtype, 1
    coef = torch.zeros(batch, n_components, width, dtype=dtype, device=device)
    # inputs without features: a constant surrogate, exact on every "perturbation"
    intercept = torch.zeros(batch, n_components, dtype=dtype, device=device)
    intercept[:, 0] = task.target_probability.to(device=device, dtype=dtype)
    mixing = torch.zeros(batch, n_components, dtype=dtype, device=device)
    mixing[:, 0] = 1.0
    component = torch.zeros(batch, dtype=torch.int64, device=device)
    rmse = torch.zeros(batch, dtype=dtype, device=device)
    for rows, columns, fit, fit_rmse in fits:
        full = fit.coef.new_zeros(len(rows), n_components, width + 1)
        index = columns[:, None, :].expand(-1, n_components, -1)
        full = full.scatter(2, index, fit.coef)
        coef[rows] = full[:, :, :width]
        padding = fit.coef.masked_fill(index < width, 0.0).sum(dim=2)
        intercept[rows] = fit.intercept + padding
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


def _chunks(counts: Tensor, size: int, pad: bool = False) -> list[Tensor]:
    """Input indices in chunks of ``size``; none for a count of 0.

    Without ``pad`` a chunk holds one feature count; with it, the inputs sorted by
    count are cut into consecutive chunks.
    """
    if pad:
        order = torch.sort(counts, stable=True).indices
        fitted = order[counts[order] > 0]
        return list(fitted.split(size)) if fitted.numel() else []
    chunks = []
    for value in torch.unique(counts):
        if int(value) == 0:  # nothing to perturb, nothing to fit
            continue
        rows = torch.nonzero(counts == value).flatten()
        chunks.extend(rows.split(size))
    return chunks


def _padded_masks(
    generators: list[torch.Generator], n_samples: int, counts: Tensor
) -> Tensor:
    """The masks of a chunk, padded with ones to its largest count.

    Args:
        generators: one per input.
        n_samples: masks per input.
        counts: (G,) each input's feature count.

    Returns:
        (G, n, max count) bool on the CPU; row i's first ``counts[i]`` columns are
        :func:`torchxai.samplers.sample_masks`, the rest 1.
    """
    widths = [int(c) for c in counts]
    if min(widths) == max(widths):
        return stack_masks(generators, n_samples, widths[0])
    masks = torch.ones(len(generators), n_samples, max(widths), dtype=torch.bool)
    for row, (generator, p) in enumerate(zip(generators, widths, strict=True)):
        masks[row, :, :p] = sample_masks(n_samples, p, generator)
    return masks


def _fit_columns(switchable: Tensor, q: int) -> Tensor:
    """The task feature of each column of a chunk's fit.

    Args:
        switchable: (G, p) bool, the features each input's masks switch off.
        q: the chunk's design width (at least each row's count).

    Returns:
        (G, q) int64: column j of row i is the i-th input's j-th switchable
        feature, or p for a padding column.
    """
    G, p = switchable.shape
    rank = switchable.long().cumsum(dim=1) - 1  # column of each switchable feature
    columns = torch.full((G, q + 1), p, dtype=torch.int64)
    slot = torch.where(switchable, rank, q)  # the others land in the spare slot
    columns.scatter_(1, slot, torch.arange(p).expand(G, p))
    return columns[:, :q]


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
