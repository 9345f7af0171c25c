"""DMM: Dirichlet-process mixture of linear regressions, Normal coefficient prior."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
from torch import Tensor

from torchxai.bayes._mixture import DPMixtureRegression
from torchxai.bayes._validate import check_float


class DMMRegression(DPMixtureRegression):
    """Truncated DP mixture of linear regressions (DMM), fitted by SVI.

    Coefficient prior, as the Normal-inverse-gamma prior of the seed's sampler but
    centered at zero: ``beta_j | sigma2_j ~ Normal(0, coef_prior_scale^2 sigma2_j I)``.
    Everything else (stick-breaking weights, Gamma concentration, inverse-gamma noise,
    marginalized assignments) is described in :mod:`torchxai.bayes._mixture`.

    Example:
        >>> model = DMMRegression(n_components=3, steps=500).fit(X, y)  # doctest: +SKIP
        >>> model.coef_.shape, model.n_components_used_  # doctest: +SKIP
        (torch.Size([3, 135]), 2)

    Args:
        n_components: truncation level J (the seed uses 3 on the PDF MLP).
        coef_prior_scale: prior sd of a coefficient in units of the noise sd
            (the seed's ``V_beta = 3 I`` gives ``sqrt(3)``).
        **kwargs: the options of :class:`~torchxai.bayes._mixture.DPMixtureRegression`
            (``steps``, ``lr``, ``seed``, ``progress``, ``tol``, ``batch_size``, ...).
    """

    _name = "DMM"

    def __init__(
        self,
        n_components: int = 3,
        *,
        coef_prior_scale: float = math.sqrt(3.0),
        **kwargs: object,
    ) -> None:
        super().__init__(n_components, **kwargs)  # type: ignore[arg-type]
        self.coef_prior_scale = check_float(
            "coef_prior_scale", coef_prior_scale, low=0.0
        )

    def _coef_prior_sd(self, noise_var: Tensor) -> Tensor:
        return self.coef_prior_scale * noise_var.sqrt()

    def _sample_coef(self, sigma2: Tensor) -> Tensor:
        scale = self.coef_prior_scale * sigma2.sqrt()[:, None]
        prior = dist.Normal(self._const(0.0), scale).expand(
            [self.n_components, self.n_features_in_]
        )
        return pyro.sample("coef", prior.to_event(2))
