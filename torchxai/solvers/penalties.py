"""Penalties with a proximal operator, one strength per problem.

Every penalty has the same small vocabulary: ``value(beta)`` (B,), ``prox(v, step,
shift, state)``, ``init_state`` for a warm-startable inner solver, and
``subset(rows)`` for the problems still iterating. Nothing here knows about data.

The prox is taken in the metric ``M = (I + shift * 11^T / p) / step`` (step and shift
(B,) per problem; ``shift = 0`` is the usual Euclidean prox):

    argmin_x  penalty(x) + 1/(2 step) (||x - v||^2 + shift * p * mean(x - v)^2).

Its optimality condition says ``x = prox_{step * penalty}(v - shift * s)`` with the
scalar ``s = mean(x - v)``. The TV prox and the TV ball commute with adding a
constant and keep the mean, so only the L1 and ridge parts see ``s``, and ``s`` is
the root of a monotone piecewise-linear equation (:func:`shifted_soft_threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from torchxai.solvers.tv_ball import project_tv_ball, total_variation
from torchxai.solvers.tv_prox import tv_prox_rows

__all__ = [
    "L1",
    "ElasticNetPenalty",
    "FusedL1",
    "Penalty",
    "TVBall",
    "shifted_soft_threshold",
    "soft_threshold",
]

_SHIFT_STEPS = 60


class Penalty(Protocol):
    """What the FISTA loop needs from a penalty."""

    def value(self, beta: Tensor) -> Tensor:
        """Penalty of each row of (B, p) ``beta``; returns (B,)."""
        ...

    def prox(
        self, v: Tensor, step: Tensor, shift: Tensor, state: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Prox at (B, p) ``v`` in the metric of ``step``, ``shift``; new state."""
        ...

    def init_state(self, beta: Tensor) -> Tensor | None:
        """The inner solver's starting state for (B, p) ``beta``, or None."""
        ...

    def subset(self, rows: Tensor) -> Penalty:
        """The penalty of the problems ``rows`` (1-D index)."""
        ...


def soft_threshold(v: Tensor, threshold: Tensor) -> Tensor:
    """``sign(v) * max(|v| - threshold, 0)`` with a (B,) threshold per row of (B, p)."""
    return torch.sign(v) * (v.abs() - threshold[:, None]).clamp_min(0)


def shifted_soft_threshold(
    w: Tensor,
    v: Tensor,
    shift: Tensor,
    threshold: Tensor,
    ridge: Tensor | None = None,
    guess: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``x = soft(w - shift * s, threshold) / (1 + ridge)`` where ``s = mean(x - v)``.

    ``h(s) = s - mean(x(s) - v)`` increases with slope between 1 and
    ``1 + shift / (1 + ridge)`` and is piecewise linear, so a Newton step from any
    ``s0`` stays within ``|s - s0| <= |h(s0)|``, which brackets the root; Newton steps
    kept in the bracket by bisection land on it once on the right piece.

    Args:
        w: (B, p) the point after the shift-free parts of the prox.
        v: (B, p) the prox's input.
        shift: (B,) non-negative.
        threshold: (B,) non-negative.
        ridge: (B,) non-negative, or None for 0.
        guess: (B,) a starting ``s`` (the previous call's), or None for 0.

    Returns:
        x (B, p) and s (B,).
    """
    scale = 1.0 if ridge is None else 1 / (1 + ridge[:, None])
    if not bool((shift > 0).any()):
        x = soft_threshold(w, threshold) * scale
        return x, (x - v).mean(1)
    eps = torch.finfo(v.dtype).eps
    target = v.mean(1)
    tol = 8 * eps * (w.abs().amax(1) + v.abs().amax(1))

    def residual(s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        moved = w - shift[:, None] * s[:, None]
        x = soft_threshold(moved, threshold) * scale
        live = (moved.abs() > threshold[:, None]).to(v.dtype) * scale
        return s - (x.mean(1) - target), x, 1 + shift * live.mean(1)

    s = torch.zeros_like(target) if guess is None else guess.clone()
    h, x, slope = residual(s)
    lo = torch.where(h > 0, s - h, s)
    hi = torch.where(h > 0, s, s - h)
    for k in range(_SHIFT_STEPS):
        busy = h.abs() > tol
        if not bool(busy.any()):
            break
        newton = s - h / slope
        inside = (newton >= lo) & (newton <= hi)
        if k >= 20 and k % 2 == 1:  # alternate with bisection if Newton stalls
            inside = torch.zeros_like(inside)
        s_next = torch.where(inside, newton, 0.5 * (lo + hi))
        s = torch.where(busy, s_next, s)
        h_new, x_new, slope_new = residual(s)
        h = torch.where(busy, h_new, h)
        x = torch.where(busy[:, None], x_new, x)
        slope = torch.where(busy, slope_new, slope)
        lo = torch.where(busy & (h < 0), s, lo)
        hi = torch.where(busy & (h > 0), s, hi)
    return x, s


@dataclass(frozen=True)
class L1:
    """``lam1 * ||beta||_1``; ``lam1`` (B,)."""

    lam1: Tensor

    def value(self, beta: Tensor) -> Tensor:
        """(B,) penalty values."""
        return self.lam1 * beta.abs().sum(1)

    def prox(
        self, v: Tensor, step: Tensor, shift: Tensor, state: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Soft-thresholding at ``step * lam1``; the state is the mean shift."""
        x, s = shifted_soft_threshold(v, v, shift, step * self.lam1, None, state)
        return x, s

    def init_state(self, beta: Tensor) -> Tensor | None:
        """Start the mean shift at 0."""
        return None

    def subset(self, rows: Tensor) -> L1:
        """The rows' penalty."""
        return L1(self.lam1[rows])


@dataclass(frozen=True)
class ElasticNetPenalty:
    """``lam1 * ||beta||_1 + lam2 / 2 * ||beta||^2``; strengths (B,)."""

    lam1: Tensor
    lam2: Tensor

    def value(self, beta: Tensor) -> Tensor:
        """(B,) penalty values."""
        return self.lam1 * beta.abs().sum(1) + 0.5 * self.lam2 * (beta * beta).sum(1)

    def prox(
        self, v: Tensor, step: Tensor, shift: Tensor, state: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Soft-thresholding, then shrinking by ``1 + step * lam2``."""
        threshold, ridge = step * self.lam1, step * self.lam2
        x, s = shifted_soft_threshold(v, v, shift, threshold, ridge, state)
        return x, s

    def init_state(self, beta: Tensor) -> Tensor | None:
        """Start the mean shift at 0."""
        return None

    def subset(self, rows: Tensor) -> ElasticNetPenalty:
        """The rows' penalty."""
        return ElasticNetPenalty(self.lam1[rows], self.lam2[rows])


@dataclass(frozen=True)
class FusedL1:
    """``lam1 * ||beta||_1 + lam2 * sum_j |beta_{j+1} - beta_j|``; strengths (B,).

    The prox is the exact TV prox at ``step * lam2`` followed by soft-thresholding at
    ``step * lam1``, which is exact for this sum (Friedman et al. 2007). The state
    (B, p) holds the TV prox's dual and the mean shift, reused as the next call's
    starting point.
    """

    lam1: Tensor
    lam2: Tensor

    def value(self, beta: Tensor) -> Tensor:
        """(B,) penalty values."""
        return self.lam1 * beta.abs().sum(1) + self.lam2 * total_variation(beta)

    def prox(
        self, v: Tensor, step: Tensor, shift: Tensor, state: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """TV prox, then (shifted) soft-thresholding."""
        dual = None if state is None else state[:, :-1]
        guess = None if state is None else state[:, -1].to(v.dtype)
        smooth, dual = tv_prox_rows(v, step * self.lam2, dual)
        x, s = shifted_soft_threshold(smooth, v, shift, step * self.lam1, None, guess)
        return x, torch.cat([dual, s.to(dual.dtype)[:, None]], 1)

    def init_state(self, beta: Tensor) -> Tensor | None:
        """Start the TV prox cold."""
        return None

    def subset(self, rows: Tensor) -> FusedL1:
        """The rows' penalty."""
        return FusedL1(self.lam1[rows], self.lam2[rows])


@dataclass(frozen=True)
class TVBall:
    """The indicator of ``{beta : sum_j |beta_{j+1} - beta_j| <= bound}``; bound (B,).

    ``value`` is 0 (the prox is a projection, so iterates are always inside).
    """

    bound: Tensor

    def value(self, beta: Tensor) -> Tensor:
        """Zeros (B,)."""
        return beta.new_zeros(beta.shape[0])

    def prox(
        self, v: Tensor, step: Tensor, shift: Tensor, state: Tensor | None
    ) -> tuple[Tensor, Tensor | None]:
        """Euclidean projection onto the ball.

        It is also the projection in the shifted metric: it keeps the mean, and the
        ball does not change when a constant is added.
        """
        return project_tv_ball(v, self.bound, state)

    def init_state(self, beta: Tensor) -> Tensor | None:
        """Start the multiplier search cold."""
        return None

    def subset(self, rows: Tensor) -> TVBall:
        """The rows' constraint."""
        return TVBall(self.bound[rows])
