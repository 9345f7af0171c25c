"""``torchxai.explain(..., method="dmm" | "dmm_men")``: a global fit on the batch.

Unlike LEMNA and LIME, which fit one local surrogate per input on its perturbed
copies, DMM and DMM-MEN fit one Dirichlet-process mixture of linear regressions to
the model's response over the whole explained batch (a global explanation); each
input is then explained by its most probable component. The response is the logit
of the target probability (from the logits where ``output="logits"``, else from
the probabilities clipped to ``[1e-7, 1 - 1e-7]``). The features are those of the
batch's feature map (the columns of a table, the pixels or the segments of an
image; a segment's value is the mean of its pixels); every input must have the same
features. For token sequences (the function-start RNN, targets ``(position,
class)``) feature j of an input is the token at the j-th position of its window,
so the windows of different inputs are aligned on their explained positions, and
the token values are divided by the largest one in the batch, which puts bytes on
[0, 1]. This is our extension: the DMM paper explains the PDF MLP and the image
CNN, not the RNN; a linear model of byte values is a coarse description of a byte
sequence, and it is offered so that every method can be judged on every model.

The Explanation holds ``scores`` (the chosen component's coefficients spread over
the input), ``coefficients`` (B, J, p), ``intercepts`` (B, J), ``mixing_weights``
(B, J) (the same for every input), ``component`` (B,), and ``fit_rmse`` (B,): per
input, the absolute difference between the sigmoid of its component's prediction
and the model's target probability (the RMSE over that single input, in the
probability units the other methods use). Targets may differ between inputs; the
mixture explains each input's own target logit.

Options (besides the common ones of :func:`torchxai.explain`): ``n_components``
(3 for dmm, 6 for dmm_men), ``n_priors`` (dmm_men, 3), ``steps`` (2000), ``lr``
(0.01), ``tol`` (1e-3), ``svi_batch_size`` (None: all inputs per step),
``estimator`` (dmm_men: ``"posterior"`` or ``"map"``). The seed and the progress
bar are the common ``seed`` and ``progress``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchxai.bayes.global_explain import (
    build_estimator,
    logit_of_class,
    logit_of_probability,
)
from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.methods import _options as check
from torchxai.methods._task import ExplainTask, jsonable

_SHARED_DEFAULTS: dict[str, Any] = {
    "steps": 2000,
    "lr": 0.01,
    "tol": 1e-3,
    "svi_batch_size": None,
}
DEFAULTS_DMM: dict[str, Any] = {"n_components": 3, **_SHARED_DEFAULTS}
DEFAULTS_DMM_MEN: dict[str, Any] = {
    "n_components": 6,
    "n_priors": 3,
    "estimator": "posterior",
    **_SHARED_DEFAULTS,
}


def _validate(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    out["n_components"] = check.integer("n_components", options["n_components"], 1)
    out["steps"] = check.integer("steps", options["steps"], 1)
    out["lr"] = check.real("lr", options["lr"], strict=True)
    if options["tol"] is not None:
        out["tol"] = check.real("tol", options["tol"], strict=True)
    if options["svi_batch_size"] is not None:
        out["svi_batch_size"] = check.integer(
            "svi_batch_size", options["svi_batch_size"], 1
        )
    if "n_priors" in options:
        out["n_priors"] = check.integer("n_priors", options["n_priors"], 1)
        out["estimator"] = check.choice(
            "estimator", options["estimator"], ("posterior", "map")
        )
    return out


def feature_matrix(task: ExplainTask) -> Tensor:
    """(B, p) the value of every feature of every input (mean over its elements).

    Raises:
        InvalidInputError: integer inputs that are not token sequences, or inputs
            with different features.
    """
    if task.sampler == "sequence":
        return _window_tokens(task)
    if not task.inputs.is_floating_point():
        raise InvalidInputError(
            "methods 'dmm' and 'dmm_men' fit a linear model of the feature values; "
            f"they need floating-point tabular or image inputs or token sequences, "
            f"got sampler {task.sampler!r} with {task.inputs.dtype} inputs."
        )
    flat_map = task.feature_map.reshape(task.batch_size, -1)
    if not bool((flat_map == flat_map[:1]).all()):
        raise InvalidInputError(
            "methods 'dmm' and 'dmm_men' fit one global model, so every input must "
            "have the same features; pass one segments mask (H, W) shared by the batch."
        )
    row = flat_map[0]
    n_features = int(row.max()) + 1
    keep = row >= 0
    index = row[keep]
    values = task.inputs.reshape(task.batch_size, -1)[:, keep].double()
    sums = torch.zeros(
        task.batch_size, n_features, dtype=values.dtype, device=values.device
    )
    sums.index_add_(1, index, values)
    counts = torch.bincount(index, minlength=n_features).to(values.dtype)
    return (sums / counts.clamp_min(1.0)).to(torch.float32)


def _window_tokens(task: ExplainTask) -> Tensor:
    """(B, w) the tokens of each input's window, in window order, scaled to [0, 1]."""
    flat_map = task.feature_map.reshape(task.batch_size, -1)
    n_features = int(flat_map.max()) + 1
    values = torch.zeros(
        task.batch_size, n_features, dtype=torch.float64, device=flat_map.device
    )
    rows, cols = torch.nonzero(flat_map >= 0, as_tuple=True)
    tokens = task.inputs.reshape(task.batch_size, -1)[rows, cols].double()
    values[rows, flat_map[rows, cols]] = tokens
    top = values.abs().max().clamp_min(1.0)
    return (values / top).to(torch.float32)


@torch.no_grad()
def target_logit(task: ExplainTask) -> Tensor:
    """(B,) the logit of each input's target probability."""
    if task.target.dim() != 1:  # (position, class): from the checked probability
        return logit_of_probability(task.target_probability).float()
    if task.common_options.get("output") == "logits":
        batch = task.model.batch_size
        parts = [
            task.raw_model(task.inputs[start : start + batch])
            for start in range(0, task.batch_size, batch)
        ]
        logits = torch.cat(parts).double()
        return logit_of_class(logits, task.target.to(logits.device)).float()
    return logit_of_probability(task.target_probability).float()


def _explain(task: ExplainTask, options: dict[str, Any], method: str) -> Explanation:
    opts = _validate(options)
    X = feature_matrix(task)
    y = target_logit(task).to(X.device)
    estimator_options = {
        key: value for key, value in opts.items() if key != "svi_batch_size"
    }
    estimator = build_estimator(
        method,
        batch_size=opts["svi_batch_size"],
        seed=task.seed,
        progress=task.progress,
        **estimator_options,
    )
    with torch.enable_grad():
        estimator.fit(X, y)
    return _assemble(task, method, opts, estimator, X, y)


def _assemble(
    task: ExplainTask,
    method: str,
    opts: dict[str, Any],
    estimator: Any,
    X: Tensor,
    y: Tensor,
) -> Explanation:
    batch = task.batch_size
    coef = estimator.coef_.float()
    component = estimator.responsibilities(X, y).argmax(dim=1)
    feature_scores = coef[component]
    predicted = estimator.predict_components(X).gather(1, component[:, None])
    probability = task.target_probability.to(X.device).float()
    rmse = (torch.sigmoid(predicted.squeeze(1)) - probability).abs()
    return Explanation(
        scores=task.scores_from_features(feature_scores),
        method=method,
        target=task.target,
        fit_rmse=rmse,
        options={**task.common_options, **jsonable(opts)},
        seed=task.seed,
        feature_map=task.feature_map,
        feature_scores=feature_scores,
        coefficients=coef.expand(batch, *coef.shape).clone(),
        intercepts=estimator.intercept_.float().expand(batch, -1).clone(),
        mixing_weights=estimator.weights_.float().expand(batch, -1).clone(),
        component=component,
        target_probability=task.target_probability,
    )


def explain_dmm(task: ExplainTask, options: dict[str, Any]) -> Explanation:
    """Explain the batch with one DMM fitted to the target logits (global)."""
    return _explain(task, options, "dmm")


def explain_dmm_men(task: ExplainTask, options: dict[str, Any]) -> Explanation:
    """Explain the batch with one DMM-MEN fitted to the target logits (global)."""
    return _explain(task, options, "dmm_men")


def register() -> None:
    """Register ``"dmm"`` and ``"dmm_men"`` with :func:`torchxai.explain` (idempotent).

    Both need autograd for the SVI fit, so they are registered with
    ``requires_grad=True``; the model itself is only queried under ``no_grad``.
    """
    from torchxai.methods._registry import available_methods, register_method

    known = set(available_methods())
    if "dmm" not in known:
        register_method("dmm", explain_dmm, defaults=DEFAULTS_DMM, requires_grad=True)
    if "dmm_men" not in known:
        register_method(
            "dmm_men", explain_dmm_men, defaults=DEFAULTS_DMM_MEN, requires_grad=True
        )
