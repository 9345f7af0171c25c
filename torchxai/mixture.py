r"""EM for mixtures of K penalized linear regressions, batched over many problems.

For each of B problems with data X (n, p) and y (n,), the model is

.. math::

    y_i \sim \sum_{k=1}^K \pi_k\, \mathcal N(b_k + x_i^\top \beta_k,\ \sigma_k^2),

fitted by expectation-maximization with soft responsibilities
:math:`r_{ik} = P(\text{component } k \mid x_i, y_i)`:

* **M-step**: each component's :math:`(\beta_k, b_k)` solves a weighted penalized
  least-squares problem with weights :math:`r_{ik}`,
  :math:`\frac{1}{2\sum_i r_{ik}} \sum_i r_{ik} (y_i - b_k - x_i^\top\beta_k)^2
  + \lambda_1 \|\beta_k\|_1 + \lambda_2 \sum_j |\beta_{k,j+1} - \beta_{k,j}|`
  (a weighted fused lasso; all B*K problems go to the solver in one batch, each
  warm-started from its previous solution); then
  :math:`\sigma_k^2 = \sum_i r_{ik} e_{ik}^2 / \sum_i r_{ik}` with the residuals
  :math:`e_{ik}` and :math:`\pi_k = \frac1n \sum_i r_{ik}`.
* **E-step**: :math:`r_{ik} \propto \pi_k \mathcal N(y_i; b_k + x_i^\top\beta_k,
  \sigma_k^2)`, and the mean log-likelihood
  :math:`\frac1n \sum_i \log \sum_k \pi_k \mathcal N(\cdot)`.

With ``inner_max_iter`` the M-steps inside the loop are capped (generalized EM) and
the component covering one chosen sample is solved exactly once the loop ends.

EM stops after ``max_iter`` iterations, or for each problem as soon as its mean
log-likelihood changes by at most ``tol`` between two iterations; a stopped problem
is no longer updated, so a problem's result does not depend on the other problems of
the batch.

Penalty scale: the penalty enters each component's problem on the solver's
normalized scale (data fit divided by the component's total responsibility), not
multiplied by :math:`\sigma_k^2 / \sum_i r_{ik}` as a penalized likelihood would;
this keeps one penalty value meaningful for every component whatever its size.

Degenerate cases never give NaN: variances are floored at
``1e-6 * var(y) + var_floor``, mixing weights at 1e-8, and the solver's weights are
:math:`r_{ik} + 10^{-6}`, so an empty component fits all samples equally instead of
none (and may take samples back later).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from torchxai.batched import design_times
from torchxai.errors import ConvergenceWarning, FitError, InvalidInputError

_WEIGHT_EPS = 1e-6
_MIN_MIXING = 1e-8


Solver = Callable[..., Any]
"""A batched solver ``solver(X, y, lam1, lam2, *, weights, init, tol, max_iter)``
returning an object with ``coef`` (M, p) and ``intercept`` (M,), like
:func:`torchxai.solvers.fused_lasso`."""


@dataclass
class MixtureFit:
    """A fitted mixture of K linear regressions for each of B problems.

    Attributes:
        coef: (B, K, p) coefficients of each component.
        intercept: (B, K) intercepts.
        variance: (B, K) noise variances.
        mixing: (B, K) mixing weights, summing to 1.
        responsibilities: (B, n, K) posterior component probabilities of the samples.
        log_likelihood: (B,) mean log-likelihood per sample at the end.
        n_iter: (B,) int64 EM iterations run.
        converged: (B,) bool, whether the log-likelihood tolerance was reached.
        solver_converged: (B,) bool, whether the solver reached its tolerance for
            every component in the last M-step.
    """

    coef: Tensor
    intercept: Tensor
    variance: Tensor
    mixing: Tensor
    responsibilities: Tensor
    log_likelihood: Tensor
    n_iter: Tensor
    converged: Tensor
    solver_converged: Tensor

    def component_predictions(self, X: Tensor) -> Tensor:
        """Each component's prediction.

        Args:
            X: (B, n, p).

        Returns:
            (B, n, K).
        """
        return design_times(X, self.coef) + self.intercept[:, None, :]

    def predict(self, X: Tensor) -> Tensor:
        """The responsibility-weighted prediction on the fitted samples.

        Args:
            X: (B, n, p) the samples the mixture was fitted on.

        Returns:
            (B, n) :math:`\\sum_k r_{ik} (b_k + x_i^\\top \\beta_k)`.
        """
        return (self.component_predictions(X) * self.responsibilities).sum(dim=-1)

    def covering_component(self, sample: int = 0) -> Tensor:
        """The component with the highest responsibility for one sample.

        Args:
            sample: the sample's index (0: the explained input).

        Returns:
            (B,) int64.
        """
        return self.responsibilities[:, sample].argmax(dim=-1)


def random_responsibilities(
    n_samples: int, n_components: int, generator: torch.Generator
) -> Tensor:
    """Random initial responsibilities, each row a Dirichlet(1, ..., 1) draw.

    Args:
        n_samples: n.
        n_components: K.
        generator: a CPU generator.

    Returns:
        (n, K) float64 on the CPU, rows summing to 1.
    """
    draws = torch.rand(
        n_samples, n_components, generator=generator, dtype=torch.float64
    )
    exponential = -torch.log1p(-draws)
    return exponential / exponential.sum(dim=1, keepdim=True)


def fit_mixture(
    X: Tensor,
    y: Tensor,
    init_responsibilities: Tensor,
    lam1: Tensor | float,
    lam2: Tensor | float,
    *,
    max_iter: int = 30,
    tol: float = 1e-4,
    var_floor: float | None = None,
    solver: Solver | None = None,
    solver_options: dict[str, Any] | None = None,
    inner_max_iter: int | None = None,
    polish_sample: int = 0,
) -> MixtureFit:
    """Fit a mixture of K weighted fused-lasso regressions to each of B problems.

    Args:
        X: (B, n, p) design matrices.
        y: (B, n) responses.
        init_responsibilities: (B, n, K) initial responsibilities (rows sum to 1);
            K is taken from its last dimension.
        lam1: L1 penalty, a float or (B,) per problem.
        lam2: fused penalty, a float or (B,) per problem.
        max_iter: the largest number of EM iterations.
        tol: stop a problem when its mean log-likelihood changes by at most this.
        var_floor: absolute floor of the variances; default 100 * eps of the dtype
            squared (about 1.4e-12 in float32, 4.9e-30 in float64), added to
            ``1e-6 * var(y)``.
        solver: the batched penalized solver; default
            :func:`torchxai.solvers.fused_lasso`.
        solver_options: extra keyword arguments for the solver (``tol``, ``max_iter``).
        inner_max_iter: if given, every M-step inside the EM loop stops after at most
            this many solver iterations (a generalized EM step: warm-started, it only
            has to improve, and EM itself moves the target every iteration). Once the
            loop ends, the component with the highest responsibility for sample
            ``polish_sample`` is solved again with the full ``solver_options``,
            warm-started, so the coefficients that describe that sample solve their
            weighted penalized regression (for the final responsibilities) to the
            solver's tolerance; the other components keep the coefficients of their
            last capped M-step. ``solver_converged`` then refers to that last solve.
        polish_sample: the sample whose component is solved exactly at the end when
            ``inner_max_iter`` is given (LEMNA: 0, the explained input).

    Returns:
        The fitted mixture.
    """
    _check_shapes(X, y, init_responsibilities)
    if max_iter < 1:
        raise InvalidInputError(f"max_iter must be at least 1; got {max_iter!r}")
    if solver is None:
        from torchxai.solvers import fused_lasso

        solver = fused_lasso
    batch, n_samples, n_features = X.shape
    n_components = init_responsibilities.shape[-1]
    dtype, device = X.dtype, X.device
    y = y.to(dtype)
    lam1_t = torch.as_tensor(lam1, dtype=dtype, device=device).expand(batch)
    lam2_t = torch.as_tensor(lam2, dtype=dtype, device=device).expand(batch)
    eps = torch.finfo(dtype).eps
    floor_abs = 100 * eps * eps if var_floor is None else var_floor
    floor = 1e-6 * y.var(dim=1, unbiased=False) + floor_abs

    state = _State(
        coef=torch.zeros(batch, n_components, n_features, dtype=dtype, device=device),
        intercept=torch.zeros(batch, n_components, dtype=dtype, device=device),
        variance=torch.ones(batch, n_components, dtype=dtype, device=device),
        mixing=torch.full(
            (batch, n_components), 1 / n_components, dtype=dtype, device=device
        ),
        resp=init_responsibilities.to(dtype=dtype, device=device).clone(),
        loglik=torch.full((batch,), -math.inf, dtype=dtype, device=device),
    )
    n_iter = torch.zeros(batch, dtype=torch.int64, device=device)
    converged = torch.zeros(batch, dtype=torch.bool, device=device)
    solved = torch.ones(batch, dtype=torch.bool, device=device)
    active = torch.arange(batch, device=device)
    options = dict(solver_options or {})
    loop_options = dict(options)
    if inner_max_iter is not None:
        if inner_max_iter < 1:
            raise InvalidInputError(
                f"inner_max_iter must be at least 1 or None; got {inner_max_iter!r}"
            )
        if not 0 <= polish_sample < n_samples:
            raise InvalidInputError(
                f"polish_sample must index one of the {n_samples} samples; got "
                f"{polish_sample!r}"
            )
        cap = int(options.get("max_iter", inner_max_iter))
        loop_options["max_iter"] = min(cap, inner_max_iter)

    for iteration in range(max_iter):
        rows = active
        X_rows = X[rows]
        coef, intercept, solved[rows] = _m_step_coefficients(
            solver,
            X_rows,
            y[rows],
            state.resp[rows],
            lam1_t[rows],
            lam2_t[rows],
            state.coef[rows] if iteration > 0 else None,
            loop_options,
        )
        resp, loglik, variance, mixing = _e_step(
            X_rows, y[rows], state.resp[rows], coef, intercept, floor[rows]
        )
        change = (loglik - state.loglik[rows]).abs()
        state.update(rows, coef, intercept, variance, mixing, resp, loglik)
        n_iter[rows] += 1
        done = (
            change <= tol
            if iteration > 0
            else torch.zeros_like(change, dtype=torch.bool)
        )
        if n_components == 1:
            done = torch.ones_like(done)
        converged[rows[done]] = True
        active = rows[~done]
        if active.numel() == 0:
            break
    if inner_max_iter is not None:
        solved = _polish(solver, X, y, state, lam1_t, lam2_t, polish_sample, options)
    return MixtureFit(
        coef=state.coef,
        intercept=state.intercept,
        variance=state.variance,
        mixing=state.mixing,
        responsibilities=state.resp,
        log_likelihood=state.loglik,
        n_iter=n_iter,
        converged=converged,
        solver_converged=solved,
    )


@dataclass
class _State:
    coef: Tensor
    intercept: Tensor
    variance: Tensor
    mixing: Tensor
    resp: Tensor
    loglik: Tensor

    def update(self, rows: Tensor, *values: Tensor) -> None:
        names = ("coef", "intercept", "variance", "mixing", "resp", "loglik")
        for name, value in zip(names, values, strict=True):
            getattr(self, name)[rows] = value


def _polish(
    solver: Solver,
    X: Tensor,
    y: Tensor,
    state: _State,
    lam1: Tensor,
    lam2: Tensor,
    sample: int,
    options: dict[str, Any],
) -> Tensor:
    """Re-solve, in place, the component covering ``sample`` with the full options.

    Returns:
        (B,) bool, whether each problem's solve reached the solver's tolerance.
    """
    rows = torch.arange(X.shape[0], device=X.device)
    component = state.resp[:, sample].argmax(dim=-1)
    resp = state.resp[rows, :, component][:, :, None]
    init = state.coef[rows, component][:, None]
    coef, intercept, solved = _m_step_coefficients(
        solver, X, y, resp, lam1, lam2, init, options
    )
    state.coef[rows, component] = coef[:, 0]
    state.intercept[rows, component] = intercept[:, 0]
    return solved


def _m_step_coefficients(
    solver: Solver,
    X: Tensor,
    y: Tensor,
    resp: Tensor,
    lam1: Tensor,
    lam2: Tensor,
    init: Tensor | None,
    options: dict[str, Any],
) -> tuple[Tensor, Tensor, Tensor]:
    """Solve the B*K weighted penalized regressions in one batch.

    The solver's ConvergenceWarnings are silenced here (an intermediate M-step need
    not be exact: EM only needs it to improve); its ``converged`` flags are returned
    instead, so the caller can warn once about the final fit.

    Returns:
        coef (B, K, p), intercept (B, K), and (B,) bool: every component converged.
    """
    batch, n_samples, n_features = X.shape
    n_components = resp.shape[-1]
    problems = batch * n_components
    X_k = X[:, None].expand(batch, n_components, n_samples, n_features)
    y_k = y[:, None].expand(batch, n_components, n_samples)
    weights = resp.transpose(1, 2) + _WEIGHT_EPS
    kwargs = dict(options)
    if init is not None:
        kwargs["init"] = init.reshape(problems, n_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = solver(
            X_k.reshape(problems, n_samples, n_features),
            y_k.reshape(problems, n_samples),
            lam1.repeat_interleave(n_components),
            lam2.repeat_interleave(n_components),
            weights=weights.reshape(problems, n_samples),
            **kwargs,
        )
    coef = result.coef.to(X.dtype).reshape(batch, n_components, n_features)
    intercept = result.intercept.to(X.dtype).reshape(batch, n_components)
    if not bool(torch.isfinite(coef).all() & torch.isfinite(intercept).all()):
        raise FitError(
            "the fused-lasso M-step returned non-finite coefficients; check that the "
            "model's outputs are finite and the penalties non-negative"
        )
    flags = getattr(result, "converged", None)
    if flags is None:
        solved = torch.ones(batch, dtype=torch.bool, device=X.device)
    else:
        solved = flags.to(X.device).reshape(batch, n_components).all(dim=1)
    return coef, intercept, solved


def _e_step(
    X: Tensor, y: Tensor, resp: Tensor, coef: Tensor, intercept: Tensor, floor: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Variances and mixing weights from the old responsibilities, then new ones.

    Returns:
        responsibilities (B, n, K), mean log-likelihood (B,), variances (B, K),
        mixing weights (B, K).
    """
    n_samples = X.shape[1]
    prediction = design_times(X, coef) + intercept[:, None, :]
    squared = (y[:, :, None] - prediction) ** 2
    size = resp.sum(dim=1)
    tiny = torch.finfo(X.dtype).tiny
    variance = (resp * squared).sum(dim=1) / size.clamp_min(tiny)
    variance = torch.maximum(variance, floor[:, None])
    mixing = (size / n_samples).clamp_min(_MIN_MIXING)
    mixing = mixing / mixing.sum(dim=1, keepdim=True)
    log_density = -0.5 * (
        torch.log(2 * math.pi * variance)[:, None, :] + squared / variance[:, None, :]
    )
    joint = log_density + torch.log(mixing)[:, None, :]
    per_sample = torch.logsumexp(joint, dim=-1)
    new_resp = torch.exp(joint - per_sample[..., None])
    return new_resp, per_sample.mean(dim=1), variance, mixing


def _check_shapes(X: Tensor, y: Tensor, resp: Tensor) -> None:
    if X.dim() != 3:
        raise InvalidInputError(f"X must have shape (B, n, p); got {tuple(X.shape)}")
    batch, n_samples = X.shape[:2]
    if tuple(y.shape) != (batch, n_samples):
        raise InvalidInputError(
            f"y must have shape ({batch}, {n_samples}) to match X; got {tuple(y.shape)}"
        )
    if (
        resp.dim() != 3
        or tuple(resp.shape[:2]) != (batch, n_samples)
        or resp.shape[2] < 1
    ):
        raise InvalidInputError(
            f"init_responsibilities must have shape ({batch}, {n_samples}, K) with "
            f"K >= 1; got {tuple(resp.shape)}"
        )
    if not X.is_floating_point():
        raise InvalidInputError(f"X must be floating point; got {X.dtype}")
