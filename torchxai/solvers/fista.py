"""Batched accelerated proximal gradient (FISTA) with adaptive restart.

The loop knows a :class:`~torchxai.solvers.datafits.Quadratic` (through ``hess_vec``,
``value``, ``metric`` and ``corr``) and a penalty (through ``prox`` and ``value``),
nothing else. All problems advance together; each stops on its own tolerance and
leaves the working set, which is compacted whenever half of it has finished.

Step: ``x_new = prox_M(z - M^-1 grad f(z))`` in the metric
``M = alpha I + beta 11^T / p >= G`` of :meth:`Quadratic.metric`; with ``beta = 0``
this is FISTA with step ``1 / L``, ``L`` the largest eigenvalue of G. The rank-one
term takes the all-ones direction, which dominates the Gram matrices of random
keep-masks, out of the step size (variable-metric FISTA; our addition to the
issue's plain step).

Each iteration costs one batched product ``G @ x``: the gradient at the extrapolated
point is the same combination of stored products as the point itself. That also makes
the descent condition ``d^T G d <= d^T M d`` (``d`` the step) free to check; a problem
that violates it rejects the step and doubles its M (backtracking).

Restart: momentum is reset when the gradient mapping and the last move point apart,
the gradient scheme of O'Donoghue and Candes (2015).

Optimality: the sup-norm of the composite gradient mapping ``M (z - x_new)`` (an
element of ``grad f(x_new) + subdifferential`` up to the step's curvature), divided by
``max(||c||_inf, ||G z||_inf)``, the size of the terms it is made of. The measure is
invariant to scaling X or y and is zero exactly at a solution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from torchxai.solvers.datafits import Quadratic
from torchxai.solvers.penalties import Penalty

__all__ = ["FistaOutput", "fista"]


@dataclass(frozen=True)
class FistaOutput:
    """What the loop returns, all in problem order.

    Attributes:
        coef: (B, p) final iterates.
        n_iter: (B,) int64 iterations run per problem.
        optimality: (B,) the optimality measure at the last iteration.
        converged: (B,) bool, optimality reached the tolerance.
        history: (T, B) objective after each iteration (NaN once a problem stopped),
            or None when not requested.
    """

    coef: Tensor
    n_iter: Tensor
    optimality: Tensor
    converged: Tensor
    history: Tensor | None


@dataclass
class _Working:
    """Per-row iteration state of the problems still running."""

    rows: Tensor
    quad: Quadratic
    penalty: Penalty
    state: Tensor | None
    x: Tensor
    gx: Tensor
    z: Tensor
    gz: Tensor
    t: Tensor
    alpha: Tensor
    beta: Tensor
    tol: Tensor
    scale: Tensor
    finished: Tensor
    opt: Tensor

    def keep(self, mask: Tensor) -> _Working:
        """The rows where ``mask`` is True."""
        idx = torch.nonzero(mask).flatten()
        return _Working(
            rows=self.rows[idx],
            quad=self.quad.subset(idx),
            penalty=self.penalty.subset(idx),
            state=None if self.state is None else self.state[idx],
            x=self.x[idx],
            gx=self.gx[idx],
            z=self.z[idx],
            gz=self.gz[idx],
            t=self.t[idx],
            alpha=self.alpha[idx],
            beta=self.beta[idx],
            tol=self.tol[idx],
            scale=self.scale[idx],
            finished=self.finished[idx],
            opt=self.opt[idx],
        )


def fista(
    quad: Quadratic,
    penalty: Penalty,
    init: Tensor,
    tol: Tensor,
    max_iter: int,
    record_history: bool = False,
) -> FistaOutput:
    """Minimize ``quad + penalty`` for B problems at once.

    Args:
        quad: the smooth part, B problems.
        penalty: the penalty, B problems.
        init: (B, p) starting coefficients.
        tol: (B,) tolerance on the optimality measure per problem.
        max_iter: the most iterations any problem runs.
        record_history: also return the objective after every iteration.

    Returns:
        The final iterates with their iteration counts and optimality.
    """
    B, p = init.shape
    coef = init.clone()
    n_iter = torch.full((B,), max_iter, dtype=torch.int64, device=init.device)
    optimality = torch.full_like(tol, float("inf"))
    converged = torch.zeros(B, dtype=torch.bool, device=init.device)
    history: list[Tensor] = []

    gx = quad.hess_vec(init)
    alpha, beta = quad.metric()
    w = _Working(
        rows=torch.arange(B, device=init.device),
        quad=quad,
        penalty=penalty,
        state=penalty.init_state(init),
        x=init,
        gx=gx,
        z=init,
        gz=gx,
        t=torch.ones_like(tol),
        alpha=alpha,
        beta=beta,
        tol=tol,
        scale=quad.corr.abs().amax(1),
        finished=torch.zeros(B, dtype=torch.bool, device=init.device),
        opt=torch.full_like(tol, float("inf")),
    )

    for k in range(1, max_iter + 1):
        now_done = _step(w)
        if record_history:
            value = w.quad.value(w.x, w.gx) + w.penalty.value(w.x)
            row = torch.full_like(tol, float("nan"))
            live = ~w.finished | now_done
            row[w.rows[live]] = value[live]
            history.append(row)
        if bool(now_done.any()):
            done_rows = w.rows[now_done]
            coef[done_rows] = w.x[now_done]
            n_iter[done_rows] = k
            optimality[done_rows] = w.opt[now_done]
            converged[done_rows] = True
            w.finished = w.finished | now_done
            left = int((~w.finished).sum())
            if left == 0:
                break
            if w.finished.numel() - left >= max(1, w.finished.numel() // 2):
                w = w.keep(~w.finished)

    unfinished = ~w.finished
    coef[w.rows[unfinished]] = w.x[unfinished]
    optimality[w.rows[unfinished]] = w.opt[unfinished]
    return FistaOutput(
        coef=coef,
        n_iter=n_iter,
        optimality=optimality,
        converged=converged,
        history=torch.stack(history) if record_history else None,
    )


def _step(w: _Working) -> Tensor:
    """One FISTA step of every working row, in place; returns the rows now converged."""
    eps = torch.finfo(w.x.dtype).eps
    step, shift = 1.0 / w.alpha, w.beta / w.alpha
    grad = w.gz - w.quad.corr
    descent = (
        grad - (shift / (1 + shift))[:, None] * grad.mean(1, keepdim=True)
    ) * step[:, None]
    x_new, state = w.penalty.prox(w.z - descent, step, shift, w.state)
    gx_new = w.quad.hess_vec(x_new)
    d = x_new - w.z
    md = w.alpha[:, None] * d + w.beta[:, None] * d.mean(1, keepdim=True)

    # descent condition along d, with room for the rounding of G @ x
    excess = (d * (gx_new - w.gz - md)).sum(1)
    too_small = excess > 0
    if bool(too_small.any()):
        rounding = 64 * eps * (gx_new.abs() + w.gz.abs()).sum(1) * d.abs().amax(1)
        too_small = excess > rounding

    scale = torch.maximum(w.scale, w.gz.abs().amax(1))
    scale = scale.clamp_min(torch.finfo(w.x.dtype).tiny)
    w.opt = torch.where(too_small, w.opt, md.abs().amax(1) / scale)
    now_done = (w.opt <= w.tol) & ~too_small & ~w.finished

    restart = (md * (x_new - w.x)).sum(1) < 0
    t_next = 0.5 * (1 + torch.sqrt(1 + 4 * w.t * w.t))
    momentum = torch.where(restart, 0.0, (w.t - 1) / t_next)[:, None]
    t_next = torch.where(restart, 1.0, t_next)
    z_next = x_new + momentum * (x_new - w.x)
    gz_next = gx_new + momentum * (gx_new - w.gx)

    if bool(too_small.any()):
        back = too_small[:, None]
        w.alpha = torch.where(too_small, 2 * w.alpha, w.alpha)
        w.beta = torch.where(too_small, 2 * w.beta, w.beta)
        x_new, gx_new = torch.where(back, w.x, x_new), torch.where(back, w.gx, gx_new)
        z_next, gz_next = (
            torch.where(back, w.x, z_next),
            torch.where(back, w.gx, gz_next),
        )
        t_next = torch.where(too_small, 1.0, t_next)
        if state is not None and w.state is not None:
            state = torch.where(back if state.dim() == 2 else too_small, w.state, state)

    w.x, w.gx, w.z, w.gz, w.t, w.state = x_new, gx_new, z_next, gz_next, t_next, state
    return now_done
