"""Euclidean projection onto the total-variation ball, batched over rows.

The projection of ``v`` onto ``{x : sum_j |x_{j+1} - x_j| <= S}`` is either ``v``
itself (already inside) or the TV prox of ``v`` at the multiplier ``mu > 0`` where the
prox has total variation exactly ``S``. Along ``mu`` the prox is piecewise linear, and
on a piece with segments of lengths ``n_s`` whose levels move by ``a_s / n_s`` per unit
of ``mu`` the total variation falls at the rate ``sum_s a_s^2 / n_s``. A Newton step
with this exact slope, kept inside a bracket by bisection, lands on the root once it
is on the right piece.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchxai.solvers.tv_prox import tv_prox_rows

__all__ = ["project_tv_ball", "total_variation"]

_MAX_STEPS = 100


def total_variation(x: Tensor) -> Tensor:
    """``sum_j |x_{j+1} - x_j|`` of each row of (B, p) ``x``; returns (B,)."""
    return (x[:, 1:] - x[:, :-1]).abs().sum(1)


def project_tv_ball(
    v: Tensor, bound: Tensor, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Project each row of ``v`` onto its total-variation ball.

    Args:
        v: (B, p) points.
        bound: (B,) non-negative radii S.
        state: (B, p) float64 from an earlier call (the dual of the TV prox in the
            first ``p - 1`` columns, the multiplier in the last), or None.

    Returns:
        The projections (B, p), dtype of ``v``, and the new state (B, p) float64.
    """
    B, p = v.shape
    v64, bound64 = v.to(torch.float64), bound.to(torch.float64)
    out = v64.clone()
    new_state = v64.new_zeros(B, p)
    if p == 1:
        return v.clone(), new_state
    centered = torch.cumsum(v64 - v64.mean(1, keepdim=True), 1)[:, :-1]
    top = centered.abs().amax(1)

    # a zero radius asks for the constant signal: the prox at its threshold
    flat = (bound64 <= 0) & (top > 0)
    if bool(flat.any()):
        out[flat] = v64[flat].mean(1, keepdim=True).expand(-1, p)
        new_state[flat, :-1] = -centered[flat]
        new_state[flat, -1] = top[flat]
    outside = (total_variation(v64) > bound64) & ~flat
    rows = torch.nonzero(outside).flatten()
    if rows.numel() == 0:
        return out.to(v.dtype), new_state

    guess = None if state is None else state[rows]
    x, u, mu = _find_multiplier(v64[rows], bound64[rows], top[rows], guess)
    out[rows] = x
    new_state[rows, :-1], new_state[rows, -1] = u, mu
    return out.to(v.dtype), new_state


def _find_multiplier(
    v: Tensor, bound: Tensor, top: Tensor, guess: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Safeguarded Newton on ``TV(prox_mu(v)) = bound`` for rows outside the ball."""
    B, p = v.shape
    eps = torch.finfo(torch.float64).eps
    lo, hi = torch.zeros_like(bound), top.clone()
    if guess is None:
        mu, u = 0.5 * top, None
    else:
        mu, u = guess[:, -1], guess[:, :-1]
        mu = torch.where((mu > 0) & (mu < top), mu, 0.5 * top)
    tol = 16 * eps * (bound + p * v.abs().amax(1))
    x_out, u_out, mu_out = v.clone(), v.new_zeros(B, p - 1), mu.clone()
    work = torch.arange(B, device=v.device)

    for _ in range(_MAX_STEPS):
        x, u = tv_prox_rows(v, mu, u)
        gap = total_variation(x) - bound
        done = gap.abs() <= tol
        x_out[work], u_out[work], mu_out[work] = x, u, mu
        if bool(done.all()):
            break
        keep = ~done
        work, v, x, u, mu = work[keep], v[keep], x[keep], u[keep], mu[keep]
        lo, hi, gap, tol, bound = lo[keep], hi[keep], gap[keep], tol[keep], bound[keep]

        lo = torch.where(gap > 0, mu, lo)
        hi = torch.where(gap < 0, mu, hi)
        rate = _decrease_rate(v, x, mu)
        newton = mu + gap / rate.clamp_min(torch.finfo(torch.float64).tiny)
        inside = (rate > 0) & (newton > lo) & (newton < hi)
        mu = torch.where(inside, newton, 0.5 * (lo + hi))
    return x_out, u_out, mu_out


def _decrease_rate(v: Tensor, x: Tensor, mu: Tensor) -> Tensor:
    """``-d TV(prox_mu(v)) / d mu`` on the current piece, (B,).

    Within a segment ``x - mean(v) = mu * a_s / n_s``, so the rate
    ``sum_s a_s^2 / n_s`` equals ``sum_k (x_k - mean_k(v))^2 / mu^2``.
    """
    B, p = x.shape
    jumps = (x[:, 1:] != x[:, :-1]).to(torch.long)
    seg = torch.cat([jumps.new_zeros(B, 1), torch.cumsum(jumps, 1)], 1)
    sums = torch.zeros_like(v).scatter_add_(1, seg, v)
    counts = torch.zeros_like(v).scatter_add_(1, seg, torch.ones_like(v))
    means = (sums / counts.clamp_min(1)).gather(1, seg)
    return ((x - means) ** 2).sum(1) / (mu * mu).clamp_min(torch.finfo(v.dtype).tiny)
