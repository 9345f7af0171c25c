"""Starting values for the SVI fit: a short hard EM over linear regressions.

Gradient-based SVI of a mixture of regressions started from prior draws converges
slowly and often to one merged component. A few rounds of classification EM
("k-regressions": assign each input to the regression that explains it best, refit
each regression by ridge least squares on its inputs) from random partitions give
starting values near a mode; SVI then fits the full Bayesian model from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class MixtureStart:
    """Starting values of a J-component mixture of linear regressions.

    Attributes:
        coef: (J, p) coefficients.
        intercept: (J,) intercepts (zeros without an intercept).
        noise_var: (J,) residual variances.
        weights: (J,) mixing proportions, summing to one.
        log_lik: classification log-likelihood of the start (higher is better).
        coef_sd: (J, p) conditional posterior sd of the coefficients given the
            partition, ``sqrt(noise_var * diag((X_j' X_j)^-1))`` (Laplace scales).
        intercept_sd: (J,) the same for the intercepts (ones without an intercept).
        counts: (J,) inputs per component.
    """

    coef: Tensor
    intercept: Tensor
    noise_var: Tensor
    weights: Tensor
    log_lik: float
    coef_sd: Tensor
    intercept_sd: Tensor
    counts: Tensor


def _fit_regressions(
    X: Tensor,
    y: Tensor,
    labels: Tensor,
    n_components: int,
    fit_intercept: bool,
    noise_prior: tuple[float, float],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Ridge fit of each labelled group: coef, intercept, noise variance, count."""
    n, p = X.shape
    ones = torch.ones(n, 1, dtype=X.dtype, device=X.device)
    design = torch.cat([X, ones], dim=1) if fit_intercept else X
    q = design.shape[1]
    coefs, variances, counts, sds = [], [], [], []
    shape, scale = noise_prior
    empty_var = scale / (shape + 1.0)  # an empty component starts at the prior mode
    for j in range(n_components):
        member = labels == j
        count = int(member.sum())
        counts.append(count)
        if count == 0:
            coefs.append(torch.zeros(q, dtype=X.dtype, device=X.device))
            variances.append(torch.tensor(empty_var, dtype=X.dtype, device=X.device))
            sds.append(torch.full((q,), empty_var**0.5, dtype=X.dtype, device=X.device))
            continue
        d, t = design[member], y[member]
        gram = d.T @ d
        ridge = 1e-4 * (gram.diagonal().mean() + 1.0)
        gram = gram + ridge * torch.eye(q, dtype=X.dtype, device=X.device)
        beta = torch.linalg.solve(gram, d.T @ t)
        coefs.append(beta)
        resid = t - d @ beta
        # posterior mode of sigma2 given the residuals under the InverseGamma prior:
        # finite even for a noiseless response
        variance = (scale + 0.5 * resid.square().sum()) / (shape + 1.0 + 0.5 * count)
        variances.append(variance)
        inverse_diag = torch.linalg.inv(gram).diagonal().clamp_min(0.0)
        sds.append((variance * inverse_diag).sqrt().clamp(1e-4, 10.0))
    coef_all = torch.stack(coefs)
    var = torch.stack(variances)
    count_t = torch.tensor(counts, dtype=X.dtype, device=X.device)
    sd_all = torch.stack(sds)
    if fit_intercept:
        return coef_all[:, :p], coef_all[:, p], var, count_t, sd_all
    zeros = torch.zeros(n_components, dtype=X.dtype, device=X.device)
    return coef_all, zeros, var, count_t, sd_all


def _log_lik(
    X: Tensor, y: Tensor, coef: Tensor, intercept: Tensor, var: Tensor, weights: Tensor
) -> Tensor:
    """(n, J) log of weight times Normal density of each input under each component."""
    mean = X @ coef.T + intercept
    resid2 = (y[:, None] - mean).square()
    log_norm = -0.5 * (var.log() + math.log(2 * math.pi))
    return weights.clamp_min(1e-12).log() + log_norm - 0.5 * resid2 / var


def hard_em_start(
    X: Tensor,
    y: Tensor,
    n_components: int,
    *,
    generator: torch.Generator,
    fit_intercept: bool = True,
    noise_prior: tuple[float, float] = (0.5, 0.5),
    n_iter: int = 15,
    n_init: int = 3,
) -> MixtureStart:
    """Best of ``n_init`` runs of classification EM.

    The first run starts from the partition of the response into J quantile
    groups, the others from random partitions.

    Args:
        X: (n, p) inputs.
        y: (n,) responses.
        n_components: J, the number of regressions.
        generator: seeded CPU generator for the random partitions.
        fit_intercept: fit an unpenalized intercept per regression.
        noise_prior: (shape, scale) of the InverseGamma prior of the noise
            variances; the start takes their conditional posterior modes.
        n_iter: EM rounds per run.
        n_init: runs; the one with the highest classification log-likelihood wins.

    Returns:
        The :class:`MixtureStart` of the best run.
    """
    n = X.shape[0]
    best: MixtureStart | None = None
    for run in range(n_init):
        if run == 0:
            # the first run starts from the response's quantiles: regimes of a
            # model's logit often differ in level (e.g. saturated classes)
            ranks = torch.argsort(torch.argsort(y))
            labels = (ranks * n_components) // n
        else:
            labels = torch.randint(n_components, (n,), generator=generator)
        labels = labels.to(X.device)
        for _ in range(n_iter):
            coef, intercept, var, counts, sd = _fit_regressions(
                X, y, labels, n_components, fit_intercept, noise_prior
            )
            weights = (counts + 1.0) / (counts.sum() + n_components)
            scores = _log_lik(X, y, coef, intercept, var, weights)
            new_labels = scores.argmax(dim=1)
            if torch.equal(new_labels, labels):
                break
            labels = new_labels
        log_lik = float(scores.max(dim=1).values.sum())
        if best is None or log_lik > best.log_lik:
            p = X.shape[1]
            intercept_sd = sd[:, p] if fit_intercept else torch.ones_like(intercept)
            best = MixtureStart(
                coef, intercept, var, weights, log_lik, sd[:, :p], intercept_sd, counts
            )
    assert best is not None  # n_init >= 1 is validated by the caller
    return best
