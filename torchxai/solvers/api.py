"""The public solver functions: validate once, then hand over to the compute code.

Every function solves B problems

    min_{beta, b}  1 / (2 * sum_i w_i) * sum_i w_i * (y_i - b - x_i @ beta)^2 + P(beta)

at once, on the device of X, in X's dtype, with the intercept ``b`` unpenalized when
``fit_intercept=True`` (``w = 1`` gives scikit-learn's ``1 / (2 n)`` scaling).

A problem stops when its optimality measure reaches its ``tol``: the sup-norm of the
composite gradient mapping ``M (z - x_new)`` of the last step (zero exactly at a
solution) divided by ``max(||c||_inf, ||G z||_inf)`` (:mod:`torchxai.solvers.fista`).
It does not change when X or y is rescaled. The default ``tol=1e-6`` gave objectives
within about 1e-9 (relative) of the optimum on LEMNA-sized problems. The tolerance is
raised to at least ``10 * eps * sqrt(p)``, where rounding puts a floor under the
measure (this matters in float32 only: 1.7e-5 at p = 200).

Inputs that require gradients are detached: the solvers are not differentiable.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from torchxai.errors import ConvergenceWarning
from torchxai.solvers._checks import Batch, check_batch, check_strength, resolve_lam1
from torchxai.solvers.datafits import (
    Quadratic,
    correlation,
    least_squares_value,
    weighted_moments,
)
from torchxai.solvers.fista import FistaOutput, fista
from torchxai.solvers.penalties import L1, ElasticNetPenalty, FusedL1, Penalty, TVBall
from torchxai.solvers.result import SolverResult

__all__ = [
    "elastic_net",
    "fused_lasso",
    "fused_lasso_constrained",
    "lambda_max",
    "lasso",
]

Strength = float | Tensor


def lambda_max(
    X: Tensor, y: Tensor, *, weights: Tensor | None = None, fit_intercept: bool = True
) -> Tensor:
    """The smallest ``lam1`` for which the lasso's solution is all zeros.

    Equal to ``||X~^T W~ y~||_inf`` with weights normalized to sum 1 and, with an
    intercept, X and y centered by their weighted means. Any ``lam1`` at or above it
    gives zeros for the lasso and the elastic net (any ``lam2``) and for the fused
    lasso (any ``lam2``; there it is an upper bound, not the smallest such value).

    Args:
        X: (B, n, p) or (n, p) designs.
        y: (B, n) or (n,) targets.
        weights: (B, n) or (n,) non-negative sample weights, or None for ones.
        fit_intercept: whether the problems have an unpenalized intercept.

    Returns:
        (B,) thresholds, or a 0-dim tensor for one unbatched problem.
    """
    batch = check_batch(X, y, weights)
    with torch.no_grad():
        moments = weighted_moments(batch.X, batch.y, batch.weights, fit_intercept)
        top = correlation(batch.X, batch.y, moments).abs().amax(1)
    return top if batch.batched else top[0]


def lasso(
    X: Tensor,
    y: Tensor,
    lam1: Strength | None = None,
    *,
    lam1_fraction: Strength | None = None,
    weights: Tensor | None = None,
    fit_intercept: bool = True,
    tol: Strength = 1e-6,
    max_iter: int = 5000,
    init: Tensor | None = None,
    return_history: bool = False,
) -> SolverResult:
    """Weighted lasso, penalty ``lam1 * ||beta||_1``, for B problems at once.

    Args:
        X: (B, n, p) designs, or (n, p) for one problem; float32 or float64.
        y: (B, n) targets, or (n,).
        lam1: L1 strength, a float or (B,) tensor; or None with ``lam1_fraction``.
        lam1_fraction: ``lam1`` as a fraction of :func:`lambda_max` (float or (B,)).
        weights: (B, n) non-negative sample weights (e.g. EM responsibilities), or
            None for ones.
        fit_intercept: fit an unpenalized intercept (by weighted centering).
        tol: per-problem tolerance on the optimality measure (float or (B,)); see
            the module docstring. Raised to at least ``10 * eps * sqrt(p)``.
        max_iter: the most FISTA iterations per problem.
        init: (B, p) warm start, e.g. the ``coef`` of an earlier call; zeros if None.
        return_history: also return the objective after each iteration.

    Returns:
        The solutions; see :class:`SolverResult`.

    Raises:
        InvalidInputError: bad shapes, NaN or inf, negative weights or penalties.

    Warns:
        ConvergenceWarning: some problems stopped at ``max_iter`` above ``tol``.
    """
    batch = check_batch(X, y, weights, init, tol, max_iter)
    absolute = resolve_lam1(lam1, lam1_fraction, batch.X)
    fraction = _fraction(lam1_fraction, batch.X)

    def penalty(top: Tensor) -> Penalty:
        return L1(_lam1(absolute, fraction, top))

    return _solve("lasso", batch, penalty, fit_intercept, return_history)


def elastic_net(
    X: Tensor,
    y: Tensor,
    lam1: Strength | None,
    lam2: Strength,
    *,
    lam1_fraction: Strength | None = None,
    weights: Tensor | None = None,
    fit_intercept: bool = True,
    tol: Strength = 1e-6,
    max_iter: int = 5000,
    init: Tensor | None = None,
    return_history: bool = False,
) -> SolverResult:
    """Weighted elastic net, penalty ``lam1 * ||beta||_1 + lam2 / 2 * ||beta||^2``.

    scikit-learn's ``ElasticNet(alpha, l1_ratio)`` is ``lam1 = alpha * l1_ratio`` and
    ``lam2 = alpha * (1 - l1_ratio)``.

    Args:
        X: (B, n, p) designs, or (n, p) for one problem; float32 or float64.
        y: (B, n) targets, or (n,).
        lam1: L1 strength, a float or (B,) tensor; or None with ``lam1_fraction``.
        lam2: ridge strength, a float or (B,) tensor.
        lam1_fraction: ``lam1`` as a fraction of :func:`lambda_max` (float or (B,)).
        weights: (B, n) non-negative sample weights, or None for ones.
        fit_intercept: fit an unpenalized intercept (by weighted centering).
        tol: per-problem tolerance on the optimality measure (float or (B,)); see
            the module docstring. Raised to at least ``10 * eps * sqrt(p)``.
        max_iter: the most FISTA iterations per problem.
        init: (B, p) warm start; zeros if None.
        return_history: also return the objective after each iteration.

    Returns:
        The solutions; see :class:`SolverResult`.

    Raises:
        InvalidInputError: bad shapes, NaN or inf, negative weights or penalties.

    Warns:
        ConvergenceWarning: some problems stopped at ``max_iter`` above ``tol``.
    """
    batch = check_batch(X, y, weights, init, tol, max_iter)
    absolute = resolve_lam1(lam1, lam1_fraction, batch.X)
    fraction = _fraction(lam1_fraction, batch.X)
    ridge = check_strength("lam2", lam2, batch.X)

    def penalty(top: Tensor) -> Penalty:
        return ElasticNetPenalty(_lam1(absolute, fraction, top), ridge)

    return _solve("elastic_net", batch, penalty, fit_intercept, return_history)


def fused_lasso(
    X: Tensor,
    y: Tensor,
    lam1: Strength | None,
    lam2: Strength,
    *,
    lam1_fraction: Strength | None = None,
    weights: Tensor | None = None,
    fit_intercept: bool = True,
    tol: Strength = 1e-6,
    max_iter: int = 5000,
    init: Tensor | None = None,
    return_history: bool = False,
) -> SolverResult:
    """Weighted fused lasso, penalty ``lam1 * ||beta||_1 + lam2 * sum_j |d beta_j|``.

    ``d beta_j = beta_{j+1} - beta_j`` along the feature order. The prox is the exact
    1-D TV prox followed by soft-thresholding (:func:`torchxai.solvers.tv_prox`).

    Args:
        X: (B, n, p) designs, or (n, p) for one problem; float32 or float64.
        y: (B, n) targets, or (n,).
        lam1: L1 strength, a float or (B,) tensor; or None with ``lam1_fraction``.
        lam2: fusion strength, a float or (B,) tensor.
        lam1_fraction: ``lam1`` as a fraction of the lasso's :func:`lambda_max`
            (float or (B,)); at 1 or above the solution is zero whatever ``lam2``.
        weights: (B, n) non-negative sample weights (e.g. EM responsibilities), or
            None for ones.
        fit_intercept: fit an unpenalized intercept (by weighted centering).
        tol: per-problem tolerance on the optimality measure (float or (B,)); see
            the module docstring. Raised to at least ``10 * eps * sqrt(p)``.
        max_iter: the most FISTA iterations per problem.
        init: (B, p) warm start; zeros if None.
        return_history: also return the objective after each iteration.

    Returns:
        The solutions; see :class:`SolverResult`.

    Raises:
        InvalidInputError: bad shapes, NaN or inf, negative weights or penalties.

    Warns:
        ConvergenceWarning: some problems stopped at ``max_iter`` above ``tol``.
    """
    batch = check_batch(X, y, weights, init, tol, max_iter)
    absolute = resolve_lam1(lam1, lam1_fraction, batch.X)
    fraction = _fraction(lam1_fraction, batch.X)
    fusion = check_strength("lam2", lam2, batch.X)

    def penalty(top: Tensor) -> Penalty:
        return FusedL1(_lam1(absolute, fraction, top), fusion)

    return _solve("fused_lasso", batch, penalty, fit_intercept, return_history)


def fused_lasso_constrained(
    X: Tensor,
    y: Tensor,
    bound: Strength,
    *,
    weights: Tensor | None = None,
    fit_intercept: bool = True,
    tol: Strength = 1e-6,
    max_iter: int = 5000,
    init: Tensor | None = None,
    return_history: bool = False,
) -> SolverResult:
    """Least squares subject to ``sum_j |beta_{j+1} - beta_j| <= bound`` (LEMNA's form).

    Solved by projected FISTA: each step projects onto the TV ball, by a Newton search
    over the Lagrange multiplier of the exact TV prox. ``objective`` is the data fit.

    Args:
        X: (B, n, p) designs, or (n, p) for one problem; float32 or float64.
        y: (B, n) targets, or (n,).
        bound: the radius S, a non-negative float or (B,) tensor.
        weights: (B, n) non-negative sample weights, or None for ones.
        fit_intercept: fit an unpenalized intercept (by weighted centering).
        tol: per-problem tolerance on the optimality measure (float or (B,)); see
            the module docstring. Raised to at least ``10 * eps * sqrt(p)``.
        max_iter: the most FISTA iterations per problem.
        init: (B, p) warm start (projected first); zeros if None.
        return_history: also return the objective after each iteration.

    Returns:
        The solutions; see :class:`SolverResult`.

    Raises:
        InvalidInputError: bad shapes, NaN or inf, negative weights or bound.

    Warns:
        ConvergenceWarning: some problems stopped at ``max_iter`` above ``tol``.
    """
    batch = check_batch(X, y, weights, init, tol, max_iter)
    radius = check_strength("bound", bound, batch.X)

    def penalty(top: Tensor) -> Penalty:
        return TVBall(radius)

    return _solve(
        "fused_lasso_constrained", batch, penalty, fit_intercept, return_history
    )


def _fraction(value: Strength | None, like: Tensor) -> Tensor | None:
    """The checked (B,) fraction, or None."""
    return None if value is None else check_strength("lam1_fraction", value, like)


def _lam1(absolute: Tensor | None, fraction: Tensor | None, top: Tensor) -> Tensor:
    """The absolute L1 strength from either form; ``top`` is lambda_max (B,)."""
    if absolute is not None:
        return absolute
    assert fraction is not None  # resolve_lam1 guarantees one of the two
    return fraction * top


def _solve(
    name: str,
    batch: Batch,
    make_penalty: Callable[[Tensor], Penalty],
    fit_intercept: bool,
    return_history: bool,
) -> SolverResult:
    """Build the quadratic, run FISTA, evaluate and package; inputs already checked."""
    with torch.no_grad():
        moments = weighted_moments(batch.X, batch.y, batch.weights, fit_intercept)
        quad = Quadratic.from_data(batch.X, batch.y, moments)
        penalty = make_penalty(quad.corr.abs().amax(1))
        init = batch.init
        if isinstance(penalty, TVBall):
            ones = torch.ones_like(batch.tol)
            init, _ = penalty.prox(init, ones, 0 * ones, None)
        tol = batch.tol.clamp_min(tolerance_floor(batch.X))
        out = fista(quad, penalty, init, tol, batch.max_iter, return_history)
        intercept = moments.y_mean - (moments.x_mean * out.coef).sum(1)
        fit = least_squares_value(
            batch.X, batch.y, moments.weights, out.coef, intercept
        )
        objective = fit + penalty.value(out.coef)
    _warn_unconverged(name, out, tol, batch.max_iter)
    result = SolverResult(
        coef=out.coef,
        intercept=intercept,
        n_iter=out.n_iter,
        objective=objective,
        optimality=out.optimality,
        converged=out.converged,
        history=out.history,
    )
    return result if batch.batched else _unbatch(result)


def tolerance_floor(X: Tensor) -> float:
    """The smallest tolerance used: ``10 * eps * sqrt(p)``, the rounding floor.

    The optimality measure compares ``G z`` with ``c``, sums of p products each;
    their rounding keeps it from going much below ``eps * sqrt(p)``. In float64 the
    floor (3e-14 at p = 200) never matters; in float32 (1.7e-5 at p = 200) it keeps
    a default ``tol=1e-6`` from running to ``max_iter``.
    """
    return 10 * torch.finfo(X.dtype).eps * X.shape[-1] ** 0.5


def _warn_unconverged(
    name: str, out: FistaOutput, tol_used: Tensor, max_iter: int
) -> None:
    """One ConvergenceWarning with the numbers when some problems did not converge."""
    missed = ~out.converged
    count = int(missed.sum())
    if count == 0:
        return
    worst = float(out.optimality[missed].max())
    tol = tol_used[missed]
    tol_text = f"{float(tol[0]):.3g}" if bool((tol == tol[0]).all()) else "their tol"
    message = (
        f"{name}: {count} of {missed.numel()} problems did not reach tol={tol_text} "
        f"within max_iter={max_iter} iterations (worst optimality reached "
        f"{worst:.3g}); raise max_iter, loosen tol, or warm-start with init="
    )
    warnings.warn(message, ConvergenceWarning, stacklevel=4)


def _unbatch(result: SolverResult) -> SolverResult:
    """Drop the batch dimension of a one-problem result."""
    return SolverResult(
        coef=result.coef[0],
        intercept=result.intercept[0],
        n_iter=result.n_iter[0],
        objective=result.objective[0],
        optimality=result.optimality[0],
        converged=result.converged[0],
        history=None if result.history is None else result.history[:, 0],
    )
