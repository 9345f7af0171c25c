"""LIME: one weighted sparse linear model on binary masks (our torch implementation).

The LIME algorithm (Ribeiro, Singh and Guestrin, KDD 2016) for each explained input:
the same keep-masks z as LEMNA (:mod:`torchxai.samplers`), the model's target
probability on the perturbed copies, sample weights from an exponential kernel on
the cosine distance between z and the all-ones mask,

.. math::

    d_i = 1 - \\frac{z_i \\cdot \\mathbf 1}{\\|z_i\\|\\,\\sqrt p}, \\qquad
    w_i = \\sqrt{\\exp(-d_i^2 / \\text{width}^2)}

(d = 1 for an all-zero mask), and a weighted lasso of the probability on z through
:func:`torchxai.solvers.lasso`. The scores are the lasso's coefficients;
``coefficients`` has one component (K = 1). ``fit_rmse`` is the unweighted root mean
squared difference between the linear model and the model's outputs over the
samples (the same measure as LEMNA's).

Options (besides the common ones of :func:`torchxai.explain`):

* ``kernel_width`` (0.25): the width of LIME's image explainer, which uses the
  same cosine distance on binary masks (the tabular explainer's
  ``0.75 * sqrt(p)`` is meant for Euclidean distances of standardized features).
* ``lam1`` (0.001) and ``penalty_scale`` (``"relative"``): the L1 penalty, as a
  fraction of the weighted ``lambda_max`` of each input, or absolute.
* ``num_features`` (None): if given, the penalty is raised (by bisection on a log
  scale between ``lambda_max`` and the ``lam1`` penalty) to the smallest value
  whose lasso keeps at most that many features.
* ``solver_tol`` (1e-6) and ``solver_max_iter`` (5000): passed to the solver.

Deviations from the reference implementation (the ``lime`` package): features are
selected and weighted by one lasso, whose coefficients are the scores; the package
selects features (forward selection, highest weights or the lasso path) and then
refits a ridge regression (alpha = 1) on them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from torchxai.explanation import Explanation
from torchxai.methods import _options as check
from torchxai.methods._task import ExplainTask, SurrogateFit, fit_surrogates

DEFAULTS: dict[str, Any] = {
    "kernel_width": 0.25,
    "lam1": 0.001,
    "penalty_scale": "relative",
    "num_features": None,
    "solver_tol": 1e-6,
    "solver_max_iter": 5000,
}

PENALTY_SCALES = ("relative", "absolute")
BISECTION_STEPS = 30


def validate(options: dict[str, Any]) -> dict[str, Any]:
    """Check LIME's options; return them normalized."""
    num_features = options["num_features"]
    if num_features is not None:
        num_features = check.integer("num_features", num_features, 1)
    return {
        "kernel_width": check.real(
            "kernel_width", options["kernel_width"], strict=True
        ),
        "lam1": check.real("lam1", options["lam1"]),
        "penalty_scale": check.choice(
            "penalty_scale", options["penalty_scale"], PENALTY_SCALES
        ),
        "num_features": num_features,
        "solver_tol": check.real("solver_tol", options["solver_tol"], strict=True),
        "solver_max_iter": check.integer(
            "solver_max_iter", options["solver_max_iter"], 1
        ),
    }


def explain_lime(task: ExplainTask, options: dict[str, Any]) -> Explanation:
    """Explain every input of the task with LIME.

    Args:
        task: the checked problem from :func:`torchxai.explain`.
        options: LIME's options (see the module docstring).

    Returns:
        The explanation; ``coefficients`` is (B, 1, p).
    """
    opts = validate(options)

    def fitter(X: Tensor, y: Tensor, generators: list[torch.Generator]) -> SurrogateFit:
        return fit_lime(X, y, opts)

    return fit_surrogates(task, "lime", opts, fitter, pad_columns=True)


def cosine_distance(masks: Tensor) -> Tensor:
    """Cosine distance between each mask and the all-ones mask.

    Only the features that some mask switches off take part: a column that is 1
    in every mask (a padding column of :func:`torchxai.methods._task.fit_surrogates`)
    is no part of the perturbation, so it brings no sample closer to the input.

    Args:
        masks: (..., n, p) 0/1 floats.

    Returns:
        (..., n) distances in [0, 1]; 1 for a mask that switches off every such
        feature, 0 for every mask when no feature is ever switched off.
    """
    moving = (masks < 1).any(dim=-2, keepdim=True).to(masks.dtype)
    kept = (masks * moving).sum(dim=-1)
    norm = kept.sqrt() * moving.sum(dim=-1).sqrt()
    similarity = torch.where(kept > 0, kept / norm.clamp_min(1e-30), 0.0)
    nothing_moves = moving.sum(dim=-1) == 0
    return torch.where(nothing_moves, 0.0, 1 - similarity)


def kernel_weights(masks: Tensor, kernel_width: float) -> Tensor:
    """LIME's exponential kernel on the cosine distance to the all-ones mask.

    Args:
        masks: (..., n, p) 0/1 floats.
        kernel_width: the kernel width.

    Returns:
        (..., n) weights ``sqrt(exp(-d**2 / width**2))``.
    """
    distance = cosine_distance(masks)
    return torch.exp(-(distance**2) / kernel_width**2).sqrt()


def fit_lime(X: Tensor, y: Tensor, opts: dict[str, Any]) -> SurrogateFit:
    """Fit LIME's weighted lasso for G inputs.

    Args:
        X: (G, n, p) keep-masks as floats.
        y: (G, n) target probabilities.
        opts: validated LIME options.

    Returns:
        The surrogate of each input (one component).
    """
    from torchxai.batched import design_times
    from torchxai.solvers import lambda_max, lasso

    weights = kernel_weights(X, opts["kernel_width"])
    count = X.shape[0]
    lam = torch.full((count,), opts["lam1"], dtype=X.dtype, device=X.device)
    top = lambda_max(X, y, weights=weights).to(X.dtype)
    if opts["penalty_scale"] == "relative":
        lam = lam * top
    solve_options = {"tol": opts["solver_tol"], "max_iter": opts["solver_max_iter"]}

    def solve(penalty: Tensor) -> Any:
        return lasso(X, y, penalty, weights=weights, **solve_options)

    result = solve(lam)
    if opts["num_features"] is not None:
        result = _limit_features(solve, result, lam, top, opts["num_features"])
    coef, intercept = result.coef, result.intercept
    prediction = design_times(X, coef) + intercept[:, None]
    return SurrogateFit(
        coef=coef[:, None, :],
        intercept=intercept[:, None],
        mixing=torch.ones(count, 1, dtype=X.dtype, device=X.device),
        component=torch.zeros(count, dtype=torch.int64, device=X.device),
        prediction=prediction,
    )


def _limit_features(
    solve: Any, result: Any, low: Tensor, high: Tensor, limit: int
) -> Any:
    """Raise each input's penalty until its lasso keeps at most ``limit`` features.

    Bisection on log(penalty) between ``low`` (the requested penalty) and ``high``
    (``lambda_max``, where no feature is kept); returns the result at the upper end.
    """
    within = (result.coef != 0).sum(dim=1) <= limit
    if bool(within.all()):
        return result
    floor = torch.finfo(low.dtype).tiny
    low = low.clamp_min(high * 1e-8).clamp_min(floor)
    high = torch.where(within, low, high.clamp_min(floor))
    for _ in range(BISECTION_STEPS):
        middle = torch.where(within, low, (low * high).sqrt())
        trial = solve(middle)
        ok = (trial.coef != 0).sum(dim=1) <= limit
        high = torch.where(ok, middle, high)
        low = torch.where(ok, low, middle)
    return solve(high)
