"""Turn a captum attribution class into a torchxai method.

Example:
    >>> from captum.attr import FeatureAblation
    >>> from torchxai.methods.captum_adapter import register_captum
    >>> spec = register_captum("ablation", FeatureAblation, overwrite=True)
    >>> spec.name
    'ablation'

and then ``torchxai.explain(model, x, "ablation", output="logits")``.

The adapter attributes one input at a time. Captum sees a forward function that
returns the input's class probabilities (after the softmax with
``output="logits"``; for a sequence labeller, those at the target position) and the
target class. Where the captum method accepts them, it is given
``baselines`` (the ``baseline`` option) and ``feature_mask`` (the sampler's features;
the elements outside them, such as positions outside a sequence window or, with
``skip_baseline_features``, features already at the baseline, form one extra group
whose attribution is dropped). Options given to ``explain`` beyond the
common ones are passed to ``attribute`` (for instance ``n_steps`` for integrated
gradients); the defaults given at registration are the accepted option names.

Scores outside the features are 0; ``feature_scores`` is the mean attribution over
each feature's elements; no surrogate is fitted, so ``fit_rmse`` is NaN.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from torchxai.errors import FitError, InvalidInputError
from torchxai.explanation import Explanation
from torchxai.methods._registry import MethodSpec, register_method
from torchxai.methods._task import ExplainTask, jsonable


def register_captum(
    name: str,
    attribution_class: type,
    *,
    overwrite: bool = False,
    **attribute_defaults: Any,
) -> MethodSpec:
    """Register a captum attribution class as the method ``name``.

    Args:
        name: the method's name for :func:`torchxai.explain`.
        attribution_class: a captum attribution class constructed from a forward
            function, e.g. ``captum.attr.IntegratedGradients``.
        overwrite: replace a method already registered under ``name``.
        **attribute_defaults: options passed to ``attribute`` and their defaults;
            only these (and the common options) are accepted by ``explain``.

    Returns:
        The registered spec.
    """
    if not inspect.isclass(attribution_class) or not hasattr(
        attribution_class, "attribute"
    ):
        raise InvalidInputError(
            f"attribution_class must be a captum attribution class with an attribute "
            f"method; got {attribution_class!r}"
        )

    def run(task: ExplainTask, options: dict[str, Any]) -> Explanation:
        return explain_with_captum(task, options, attribution_class, name)

    return register_method(
        name, run, defaults=attribute_defaults, requires_grad=True, overwrite=overwrite
    )


def explain_with_captum(
    task: ExplainTask, options: dict[str, Any], attribution_class: type, name: str
) -> Explanation:
    """Attribute every input of the task with a captum method.

    Args:
        task: the checked problem.
        options: keyword arguments for ``attribute``.
        attribution_class: the captum class.
        name: the method's name, recorded in the explanation.

    Returns:
        The explanation.
    """
    attribute = getattr(attribution_class, "attribute")  # noqa: B009
    accepted = set(inspect.signature(attribute).parameters)
    # a perturbation method switches off the features it can move
    perturbs = "feature_mask" in accepted
    groups = task.perturbable().feature_map if perturbs else task.feature_map
    attributions = []
    for row in range(task.batch_size):
        forward = _forward_for(task, row)
        explainer = attribution_class(forward)
        kwargs = dict(options)
        if "baselines" in accepted:
            kwargs["baselines"] = torch.broadcast_to(task.baseline, task.inputs.shape)[
                row : row + 1
            ]
        if "feature_mask" in accepted:
            kwargs["feature_mask"] = _captum_mask(groups[row : row + 1])
        target = int(
            task.target[row] if task.target.dim() == 1 else task.target[row, 1]
        )
        try:
            result = explainer.attribute(
                task.inputs[row : row + 1], target=target, **kwargs
            )
        except Exception as exc:
            raise FitError(
                f"captum {attribution_class.__name__} failed on input {row}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        attributions.append(result.detach().to(torch.float32))
    scores = torch.cat(attributions)
    scores = torch.where(groups >= 0, scores, torch.zeros_like(scores))
    return Explanation(
        scores=scores,
        method=name,
        target=task.target,
        fit_rmse=torch.full((task.batch_size,), float("nan"), device=scores.device),
        options={**task.common_options, **jsonable(options)},
        seed=task.seed,
        feature_map=task.feature_map,
        feature_scores=_feature_means(scores, task.feature_map),
        target_probability=task.target_probability,
    )


def _forward_for(task: ExplainTask, row: int) -> Callable[[Tensor], Tensor]:
    """Probabilities (N, C) of the inputs, at the row's position for labellers."""
    position = int(task.target[row, 0]) if task.target.dim() == 2 else None
    softmax = task.model.output == "logits"

    def forward(inputs: Tensor) -> Tensor:
        out = task.raw_model(inputs)
        out = out.softmax(dim=-1) if softmax else out
        return out if position is None else out[:, position]

    return forward


def _captum_mask(feature_map: Tensor) -> Tensor:
    """Captum groups: the features, and one extra group for the other elements."""
    extra = int(feature_map.max()) + 1
    return torch.where(feature_map >= 0, feature_map, extra)


def _feature_means(scores: Tensor, feature_map: Tensor) -> Tensor:
    """(B, p) mean score of each feature's elements."""
    batch = scores.shape[0]
    width = int(feature_map.max()) + 1
    flat_map = feature_map.reshape(batch, -1)
    index = flat_map.clamp(min=0)
    inside = (flat_map >= 0).to(scores.dtype)
    sums = torch.zeros(batch, width, dtype=scores.dtype, device=scores.device)
    counts = torch.zeros_like(sums)
    sums.scatter_add_(1, index, scores.reshape(batch, -1) * inside)
    counts.scatter_add_(1, index, inside)
    return sums / counts.clamp_min(1)
