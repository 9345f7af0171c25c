"""The weighted least-squares data fit, reduced to a quadratic in the coefficients.

For B problems with designs X (B, n, p), targets y (B, n) and non-negative sample
weights w (B, n), the data fit is

    f(beta, b) = 1 / (2 * sum_i w_i) * sum_i w_i * (y_i - b - x_i @ beta)^2.

With normalized weights ``w~ = w / sum(w)`` and an unpenalized intercept, the best ``b``
for any ``beta`` is ``y_mean - x_mean @ beta`` (weighted means), so centering X and y
with the weights removes the intercept exactly. What remains is

    f(beta) = 1/2 beta^T G beta - c^T beta + d / 2,
    G = X~^T W~ X~  (B, p, p),   c = X~^T W~ y~  (B, p),   d = y~^T W~ y~  (B,),

computed once per solve, so an iteration costs a (p, p) product whatever n is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from torchxai.batched import bmm, design_times, row_times

__all__ = ["Moments", "Quadratic", "least_squares_value", "weighted_moments"]

# elements of a centered design copy made at once; bounds the memory of the Gram step
_CHUNK_ELEMENTS = 1 << 21
# problems of at most this many elements (p * p for G, n * p for X) take the
# multiply-and-sum path instead of a matrix product; the choice depends on one
# problem's size only, never on the batch, so results do not depend on the batch
_SMALL_PROBLEM = 256
_LANCZOS_STEPS = 16
_LANCZOS_MARGIN = 1.01
_DEFLATED_MARGIN = 1.05
_METRIC_GAP = 0.05


@dataclass(frozen=True)
class Moments:
    """Normalized weights and weighted means of one batch of problems.

    Attributes:
        weights: (B, n) non-negative weights that sum to 1 per problem.
        x_mean: (B, p) weighted column means, zeros without an intercept.
        y_mean: (B,) weighted target means, zeros without an intercept.
    """

    weights: Tensor
    x_mean: Tensor
    y_mean: Tensor


def weighted_moments(
    X: Tensor, y: Tensor, weights: Tensor | None, fit_intercept: bool
) -> Moments:
    """Normalize the weights and take the weighted means used for centering.

    Args:
        X: (B, n, p) designs.
        y: (B, n) targets.
        weights: (B, n) non-negative weights with a positive sum, or None for ones.
        fit_intercept: whether to center (True) or fit through the origin.

    Returns:
        The moments; the means are zero when ``fit_intercept`` is False.
    """
    B, n, p = X.shape
    if weights is None:
        w = X.new_full((B, n), 1.0 / n)
    else:
        w = weights / weights.sum(1, keepdim=True)
    if fit_intercept:
        x_mean = _weighted_rows(X, w)
        y_mean = (w * y).sum(1)
    else:
        x_mean, y_mean = X.new_zeros(B, p), X.new_zeros(B)
    return Moments(weights=w, x_mean=x_mean, y_mean=y_mean)


@dataclass(frozen=True)
class Quadratic:
    """``f(beta) = 1/2 beta^T G beta - c^T beta + d / 2`` for B problems at once.

    Attributes:
        gram: (B, p, p) symmetric positive semi-definite G.
        corr: (B, p) c, the negative gradient at zero.
        offset: (B,) d, twice the value at zero.
    """

    gram: Tensor
    corr: Tensor
    offset: Tensor

    @classmethod
    def from_data(cls, X: Tensor, y: Tensor, moments: Moments) -> Quadratic:
        """Build G, c and d from the data, centering in chunks of problems.

        Columns that are constant over the weighted samples (all-zero columns, one
        sample, a feature never perturbed) get exact zeros in G and c instead of
        rounding noise, so their coefficient is left to the penalty alone.

        Args:
            X: (B, n, p) designs.
            y: (B, n) targets.
            moments: the weights and means from :func:`weighted_moments`.

        Returns:
            The quadratic.
        """
        B, n, p = X.shape
        gram = X.new_empty(B, p, p)
        corr = X.new_empty(B, p)
        offset = X.new_empty(B)
        for part in _chunks(X):
            Xs, ys = _scaled(X, y, moments, part)
            gram[part] = bmm(Xs.mT, Xs)
            corr[part] = _weighted_rows(Xs, ys)
            offset[part] = (ys * ys).sum(1)
            spread = gram[part].diagonal(dim1=1, dim2=2)
            second = spread + moments.x_mean[part] ** 2
            _zero_columns(gram[part], corr[part], spread <= _noise_floor(X) * second)
            gram[part] = 0.5 * (gram[part] + gram[part].mT)
        return cls(gram=gram, corr=corr, offset=offset)

    def subset(self, rows: Tensor) -> Quadratic:
        """The quadratic of the problems ``rows`` (a 1-D index tensor)."""
        return Quadratic(self.gram[rows], self.corr[rows], self.offset[rows])

    def hess_vec(self, beta: Tensor) -> Tensor:
        """``G @ beta`` for (B, p) coefficients; returns (B, p)."""
        return _matvec(self.gram, beta)

    def value(self, beta: Tensor, g_beta: Tensor) -> Tensor:
        """f at (B, p) ``beta`` given ``g_beta = G @ beta``; returns (B,)."""
        quad = (beta * (0.5 * g_beta - self.corr)).sum(1)
        return quad + 0.5 * self.offset

    def metric(self) -> tuple[Tensor, Tensor]:
        """A metric ``M = alpha I + beta 11^T / p`` with ``M >= G``, per problem.

        The step of the proximal-gradient loop is ``M^-1`` instead of ``1 / L``.
        With ``beta = 0`` this is the usual ``alpha = L``, the largest eigenvalue of
        G (Lanczos, raised by 1 %; the complement block's by 5 %, as its top
        eigenvalue is less separated). The rank-one term is worth it when G is
        dominated by the direction of the all-ones vector, as it is for designs of
        random keep-masks (LIME, LEMNA: the number of kept features varies from
        sample to sample, and centering does not remove that). Writing G in the
        basis of ``e = 1 / sqrt(p)`` and its complement, with ``a = e^T G e``,
        ``b = (I - ee^T) G e`` and ``C`` the complement block, any
        ``alpha = lambda_max(C) + tau`` (``tau > 0``) with
        ``beta = a - alpha + ||b||^2 / tau`` makes ``M - G`` positive semi-definite
        (its Schur complement is non-negative). We take ``tau = 5 %`` of
        ``lambda_max(C)``: a large ``beta`` only slows the one direction ``e``, while
        ``alpha`` sets the step of all the others. It is used when ``alpha`` is at
        most half an upper bound of ``L`` (the largest eigenvalue of
        ``[[a, ||b||], [||b||, lambda_max(C)]]``); otherwise ``M = L I``, and only
        then is ``L`` computed. Proxes in this metric stay cheap because the TV prox
        commutes with adding a constant.

        An estimate that is still too small costs speed, never correctness: the
        loop checks the descent condition every step and doubles M where it fails.
        A zero G gets ``M = I``.

        Returns:
            alpha (B,) > 0 and beta (B,) >= 0.
        """
        B, p, _ = self.gram.shape
        alpha = self.gram.new_zeros(B)
        beta = self.gram.new_zeros(B)
        use = torch.zeros(B, dtype=torch.bool, device=self.gram.device)
        if p > 1:
            ones_image = self.gram.sum(2) / p  # G e / sqrt(p)
            along = ones_image.sum(1)  # e^T G e
            cross = (ones_image - along[:, None] / p).norm(dim=1) * p**0.5
            rest = _lanczos_top(self.gram, _LANCZOS_STEPS, deflate=True)
            rest = rest * _DEFLATED_MARGIN
            gap = _METRIC_GAP * rest
            alpha = rest + gap
            tau = gap.clamp_min(torch.finfo(gap.dtype).tiny)
            beta = (along - alpha + cross**2 / tau).clamp_min(0)
            # the largest eigenvalue of the 2 x 2 block bound is >= that of G
            mid, half = 0.5 * (along + rest), 0.5 * (along - rest)
            bound = mid + torch.sqrt(half * half + cross * cross)
            use = (alpha > 0) & (alpha <= 0.5 * bound)
        plain = torch.nonzero(~use).flatten()
        if plain.numel() > 0:
            gram = self.gram if plain.numel() == B else self.gram[plain]
            top = _lanczos_top(gram, _LANCZOS_STEPS, deflate=False) * _LANCZOS_MARGIN
            alpha[plain] = torch.where(top > 0, top, torch.ones_like(top))
            beta[plain] = 0.0
        return alpha, beta


def correlation(X: Tensor, y: Tensor, moments: Moments) -> Tensor:
    """The vector c of :class:`Quadratic` without forming G, (B, p).

    Computed with the same operations as :meth:`Quadratic.from_data`, so that a
    ``lam1`` equal to ``||c||_inf`` gives exact zeros in the solvers.
    """
    B, n, p = X.shape
    corr = X.new_empty(B, p)
    for part in _chunks(X):
        Xs, ys = _scaled(X, y, moments, part)
        corr[part] = _weighted_rows(Xs, ys)
        spread = (Xs * Xs).sum(1)
        second = spread + moments.x_mean[part] ** 2
        corr[part] = corr[part].masked_fill(spread <= _noise_floor(X) * second, 0.0)
    return corr


def _chunks(X: Tensor) -> list[slice]:
    """Slices of problems whose centered copies stay under the chunk size."""
    B, n, p = X.shape
    step = max(1, _CHUNK_ELEMENTS // max(1, n * p))
    return [slice(lo, min(B, lo + step)) for lo in range(0, B, step)]


def _scaled(
    X: Tensor, y: Tensor, moments: Moments, part: slice
) -> tuple[Tensor, Tensor]:
    """Centered X and y of the problems ``part``, rows scaled by sqrt(weights)."""
    root = moments.weights[part].sqrt()
    Xs = X[part] - moments.x_mean[part, None, :]
    Xs.mul_(root[:, :, None])
    ys = (y[part] - moments.y_mean[part, None]) * root
    return Xs, ys


def least_squares_value(
    X: Tensor, y: Tensor, weights: Tensor, coef: Tensor, intercept: Tensor
) -> Tensor:
    """The data fit from the residuals themselves (no cancellation), (B,).

    Args:
        X: (B, n, p) designs.
        y: (B, n) targets.
        weights: (B, n) weights that sum to 1 per problem.
        coef: (B, p) coefficients.
        intercept: (B,) intercepts.
    """
    residual = y - intercept[:, None] - _design_times(X, coef)
    return 0.5 * (weights * residual * residual).sum(1)


def _weighted_rows(X: Tensor, w: Tensor) -> Tensor:
    """``sum_i w_i x_i`` for (B, n, p) X and (B, n) w; returns (B, p)."""
    if X.shape[1] * X.shape[2] <= _SMALL_PROBLEM:
        return (X * w[:, :, None]).sum(1)
    return row_times(w, X)


def _design_times(X: Tensor, coef: Tensor) -> Tensor:
    """``X @ coef`` for (B, n, p) X and (B, p) coef; returns (B, n)."""
    if X.shape[1] * X.shape[2] <= _SMALL_PROBLEM:
        return (X * coef[:, None, :]).sum(2)
    return design_times(X, coef)


def _matvec(gram: Tensor, x: Tensor) -> Tensor:
    """``G @ x`` for symmetric (B, p, p) G and (B, p) x.

    Small problems use a plain multiply-and-sum: a matmul call costs far more than
    the arithmetic there. Larger ones use matmul, as ``x^T G``. Each path gives a
    problem the same bits whatever the batch around it, and the path is chosen by
    the problem's size alone, so a problem solved in any batch (or in a working set
    that shrinks) gets identical results.
    """
    if gram.shape[1] * gram.shape[2] <= _SMALL_PROBLEM:
        return (gram * x[:, :, None]).sum(1)
    return row_times(x, gram)


def _noise_floor(X: Tensor) -> float:
    """Squared relative size of centering rounding: columns below it are constant."""
    return float((16 * torch.finfo(X.dtype).eps) ** 2)


def _zero_columns(gram: Tensor, corr: Tensor, flat: Tensor) -> None:
    """Zero the rows and columns of G and the entries of c where ``flat`` (in place)."""
    keep = (~flat).to(gram.dtype)
    gram.mul_(keep[:, :, None] * keep[:, None, :])
    corr.mul_(keep)


def _lanczos_top(gram: Tensor, steps: int, deflate: bool) -> Tensor:
    """Largest Ritz value of each symmetric (B, p, p) matrix after at most ``steps``.

    Plain three-term Lanczos: over so few steps the loss of orthogonality only
    duplicates converged Ritz values, it does not move the largest one above the
    largest eigenvalue. A row whose Krylov space is exhausted stops at zeros. Every
    third step from the sixth, a row whose largest Ritz value moved by at most 1e-6
    relative keeps that value (so its result does not depend on the other rows),
    and the run stops once every row has. With ``deflate`` the matrix is
    ``(I - 11^T/p) G (I - 11^T/p)``, on zero-mean vectors.
    """
    B, p, _ = gram.shape
    k = min(p, steps)
    start = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn(p, generator=start, dtype=torch.float64)
    if deflate:
        q = q - q.mean()
    q = (q / q.norm()).to(gram).expand(B, p).contiguous()
    q_prev = torch.zeros_like(q)
    alpha, beta = gram.new_zeros(B, k), gram.new_zeros(B, k)
    tiny = torch.finfo(gram.dtype).eps * gram.diagonal(dim1=1, dim2=2).sum(1)
    last: Tensor | None = None
    settled = torch.zeros(B, dtype=torch.bool, device=gram.device)
    final = gram.new_zeros(B)
    for j in range(k):
        w = _matvec(gram, q)
        if deflate:
            w = w - w.mean(1, keepdim=True)
        alpha[:, j] = (q * w).sum(1)
        w = w - alpha[:, j, None] * q - beta[:, j - 1, None] * q_prev
        norm = w.norm(dim=1)
        alive = norm > tiny
        beta[:, j] = torch.where(alive, norm, torch.zeros_like(norm))
        q_prev = q
        safe = norm.clamp_min(torch.finfo(w.dtype).tiny)[:, None]
        q = torch.where(alive[:, None], w / safe, 0.0)
        if j + 1 == k or (j + 1 >= 6 and (j + 1) % 3 == 0):
            top = _ritz_top(alpha[:, : j + 1], beta[:, :j])
            if last is not None:
                now = ~settled & ((top - last).abs() <= 1e-6 * top)
                final = torch.where(now, top, final)
                settled = settled | now
                if bool(settled.all()):
                    break
            last = top
    assert last is not None  # the loop runs at least once and checks at its end
    return torch.where(settled, final, last).clamp_min(0)


def _ritz_top(alpha: Tensor, beta: Tensor) -> Tensor:
    """Largest eigenvalue of the tridiagonal matrices (B, k) diagonal, (B, k-1) off."""
    tri = (
        torch.diag_embed(alpha) + torch.diag_embed(beta, 1) + torch.diag_embed(beta, -1)
    )
    return torch.linalg.eigvalsh(tri)[:, -1]
