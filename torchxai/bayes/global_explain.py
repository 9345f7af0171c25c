"""Global explanations of one class: fit DMM or DMM-MEN to a model's class logit.

The response explained is the logit of the target class probability,
``log p_c - log(1 - p_c) = z_c - logsumexp_{k != c} z_k`` for logits ``z``, computed
from the logits so that it stays finite where the probability rounds to 1 (the seed
clipped the probability at 0.999999 instead).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchxai.bayes._mixture import DPMixtureRegression
from torchxai.bayes._validate import check_int
from torchxai.bayes.dmm import DMMRegression
from torchxai.bayes.dmm_men import DMMMEN
from torchxai.errors import FitError, InvalidInputError

GLOBAL_METHODS = ("dmm", "dmm_men")


def logit_of_class(logits: Tensor, target: Tensor | int) -> Tensor:
    """``z_c - logsumexp_{k != c} z_k``, the logit of the softmax probability of c.

    Args:
        logits: (n, C) logits, C >= 2.
        target: a class index, or (n,) class indices.

    Returns:
        (n,) logits of the target probabilities, in float64 where logits are wider.
    """
    rows = torch.arange(logits.shape[0], device=logits.device)
    target_t = torch.as_tensor(target, device=logits.device).expand(logits.shape[0])
    own = logits[rows, target_t]
    others = logits.clone()
    others[rows, target_t] = -math.inf
    return own - torch.logsumexp(others, dim=1)


def logit_of_probability(probabilities: Tensor, eps: float = 1e-7) -> Tensor:
    """``log p - log(1 - p)`` with ``p`` clipped to ``[eps, 1 - eps]`` (float64).

    Args:
        probabilities: (n,) probabilities.
        eps: clipping margin.
    """
    p = probabilities.double().clamp(eps, 1.0 - eps)
    return p.log() - (-p).log1p()


@torch.no_grad()
def class_logit(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target_class: int,
    *,
    batch_size: int = 1024,
) -> Tensor:
    """The model's logit of ``target_class`` on every input, in batches, no grad.

    Args:
        model: maps (N, *input_shape) to logits (N, C) (the ported models do).
        inputs: (n, *input_shape) on the model's device.
        target_class: the explained class, 0 <= target_class < C.
        batch_size: inputs per model call.

    Returns:
        (n,) float32 (or wider) logits of the target class probability.
    """
    parts = []
    for start in range(0, inputs.shape[0], batch_size):
        logits = model(inputs[start : start + batch_size])
        if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[1] < 2:
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits)
            raise InvalidInputError(
                f"model must return (N, C) logits with C >= 2, got {shape}."
            )
        if not 0 <= target_class < logits.shape[1]:
            raise InvalidInputError(
                f"target_class must be in [0, {logits.shape[1]}), got {target_class}."
            )
        parts.append(logit_of_class(logits.float(), target_class))
    response = torch.cat(parts)
    if not bool(torch.isfinite(response).all()):
        raise FitError("the model returned NaN or infinite logits on some inputs.")
    return response


def high_variance_features(inputs: Tensor, k: int) -> Tensor:
    """The ``k`` input elements with the highest variance over the inputs.

    The seed's DMM-MEN keeps the 300 highest-variance pixels of the explained class.

    Args:
        inputs: (n, *input_shape).
        k: how many elements, 1 <= k <= prod(input_shape).

    Returns:
        (k,) int64 flat indices, by decreasing variance.
    """
    flat = inputs.reshape(inputs.shape[0], -1)
    check_int("k", k, 1)
    if k > flat.shape[1]:
        raise InvalidInputError(
            f"k must be at most the {flat.shape[1]} input elements, got {k}."
        )
    variance = flat.double().var(dim=0)
    return torch.argsort(variance, descending=True, stable=True)[:k]


@dataclass
class GlobalExplanation:
    """A mixture fitted to one class's logit over a set of inputs.

    Attributes:
        estimator: the fitted :class:`DMMRegression` or :class:`DMMMEN`.
        feature_indices: (p,) flat input indices of the p features fitted.
        input_shape: the shape of one input.
        target_class: the explained class.
        response: (n,) the model's logit of the class on each input.
        labels: (n,) the most probable component of each input (canonical order).
    """

    estimator: DPMixtureRegression
    feature_indices: Tensor
    input_shape: tuple[int, ...]
    target_class: int
    response: Tensor
    labels: Tensor

    def coefficient_maps(self) -> Tensor:
        """(J, *input_shape) each component's coefficients on the input, 0 elsewhere."""
        coef = self.estimator.coef_
        maps = torch.zeros(coef.shape[0], math.prod(self.input_shape), dtype=coef.dtype)
        maps[:, self.feature_indices.cpu()] = coef.cpu()
        return maps.reshape(coef.shape[0], *self.input_shape)

    def ranking(self, component: int, *, by: str = "abs") -> Tensor:
        """Flat input indices of the fitted features, most important first.

        Args:
            component: a component index in canonical order.
            by: ``"abs"`` ranks by ``|coef|`` (the seed's DMM-MEN), ``"signed"`` by
                the coefficient (features pushing towards the class first).

        Returns:
            (p,) int64 flat input indices.
        """
        if by not in ("abs", "signed"):
            raise InvalidInputError(f"by must be 'abs' or 'signed', got {by!r}.")
        coef = self.estimator.coef_[component].cpu()
        key = coef.abs() if by == "abs" else coef
        order = torch.argsort(key, descending=True, stable=True)
        return self.feature_indices.cpu()[order]

    def component_counts(self) -> Tensor:
        """(J,) how many inputs each component explains."""
        return torch.bincount(self.labels.cpu(), minlength=self.estimator.n_components)


def build_estimator(method: str, **options: Any) -> DPMixtureRegression:
    """A :class:`DMMRegression` (``"dmm"``) or :class:`DMMMEN` (``"dmm_men"``)."""
    if method == "dmm":
        return DMMRegression(**options)
    if method == "dmm_men":
        return DMMMEN(**options)
    raise InvalidInputError(f"method must be one of {GLOBAL_METHODS}, got {method!r}.")


def explain_global(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target_class: int,
    *,
    method: str = "dmm",
    feature_indices: Tensor | None = None,
    batch_size: int = 1024,
    **options: Any,
) -> GlobalExplanation:
    """Explain a class globally: fit a DP mixture of regressions to its logit.

    Args:
        model: maps (N, *input_shape) inputs to (N, C) logits.
        inputs: (n, *input_shape) inputs on the model's device, n >= 2.
        target_class: the explained class.
        method: ``"dmm"`` or ``"dmm_men"``.
        feature_indices: (p,) flat input indices used as features (e.g. from
            :func:`high_variance_features`); default every element.
        batch_size: inputs per model call.
        **options: constructor options of the estimator (``n_components``,
            ``steps``, ``lr``, ``seed``, ``progress``, ...).

    Returns:
        The :class:`GlobalExplanation`.
    """
    if not isinstance(inputs, Tensor) or inputs.dim() < 2:
        raise InvalidInputError(
            "inputs must be a tensor (n, *input_shape) with a batch dimension, "
            f"got {getattr(inputs, 'shape', type(inputs).__name__)}."
        )
    estimator = build_estimator(method, **options)
    flat = inputs.reshape(inputs.shape[0], -1)
    if feature_indices is None:
        feature_indices = torch.arange(flat.shape[1])
    feature_indices = torch.as_tensor(feature_indices, dtype=torch.int64)
    if feature_indices.dim() != 1 or not bool(
        ((feature_indices >= 0) & (feature_indices < flat.shape[1])).all()
    ):
        raise InvalidInputError(
            f"feature_indices must be a 1-D tensor of flat indices in [0, "
            f"{flat.shape[1]}), got {feature_indices}."
        )
    response = class_logit(model, inputs, target_class, batch_size=batch_size)
    X = flat[:, feature_indices.to(flat.device)].to(response.dtype)
    estimator.fit(X, response)
    labels = estimator.responsibilities(X, response).argmax(dim=1)
    return GlobalExplanation(
        estimator=estimator,
        feature_indices=feature_indices,
        input_shape=tuple(inputs.shape[1:]),
        target_class=int(target_class),
        response=response,
        labels=labels,
    )
