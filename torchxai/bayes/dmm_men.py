"""DMM-MEN: the DP mixture of regressions with multiple elastic-net priors.

As in Guo, Huang, Xing & Xing (NeurIPS 2018): K elastic nets, each with its own
``(lam1_k, lam2_k)``; every mixture component j picks one of them, ``c_j``, and its
coefficients follow that net:

    w ~ Dirichlet(1/K, ..., 1/K)                  which nets are common
    lam1_k ~ Gamma(L, v/2),  lam2_k ~ Gamma(R, v/2)       learned, with priors
    c_j ~ Categorical(w)                          marginalized by hand
    beta_j | c_j = k, sigma2_j
        ~ prod_p exp(-(lam1_k |beta_jp| + lam2_k beta_jp^2) / (2 sigma2_j)) / Z

(the Li & Lin 2010 Bayesian elastic net, whose normalizer is closed-form, see
:mod:`torchxai.bayes.elastic_net`). The choice ``c_j`` is summed out exactly (a
``MixtureSameFamily`` over the K nets), so the guide needs no discrete sites; its
posterior, :attr:`DMMMEN.prior_assignment_`, is read off afterwards. By default
the lambdas are learned, with the seed's Gamma priors (L = 1, R = 4, v = 1), which
keeps the nets free to specialize; ``lambdas=`` fixes them to a grid instead (no
lambda latents), e.g. to impose a known amount of shrinkage.

``estimator="map"`` replaces the posterior-median coefficients by the exact MAP of
each component's coefficients given the fitted assignment, net and intercept-free
elastic-net objective, solved by :func:`torchxai.solvers.elastic_net`; unlike the
SVI medians it has exact zeros.

Deviations from the seed's Gibbs sampler: variational inference instead of MCMC
with Metropolis-Hastings steps for ``sigma2`` and the lambdas; ``c_j`` and the
elastic-net scale-mixture variables ``tau`` are integrated out instead of sampled;
an intercept per component.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import Tensor

from torchxai.bayes._guide import LatentSite
from torchxai.bayes._init import MixtureStart
from torchxai.bayes._mixture import DPMixtureRegression
from torchxai.bayes._validate import check_int
from torchxai.bayes.elastic_net import ElasticNetPrior
from torchxai.errors import InvalidInputError

ESTIMATORS = ("posterior", "map")


class DMMMEN(DPMixtureRegression):
    """DP mixture of regressions with multiple elastic-net priors, fitted by SVI.

    Args:
        n_components: truncation level J (the seed uses 6 on the CNN).
        n_priors: number K of elastic nets (the seed uses 3).
        lambda1_prior: (shape L, rate v/2) of the Gamma prior of each ``lam1_k``.
        lambda2_prior: (shape R, rate v/2) of the Gamma prior of each ``lam2_k``.
        lambdas: optional fixed grid, ``n_priors`` pairs ``(lam1_k, lam2_k)`` with
            ``lam1_k >= 0`` and ``lam2_k > 0``; the lambda priors are then unused.
        prior_weight_concentration: Dirichlet concentration of ``w``; None gives the
            seed's ``1 / K``.
        estimator: ``"posterior"`` (posterior medians under the guide) or ``"map"``
            (exact elastic-net MAP with zeros, through :mod:`torchxai.solvers`).
        map_tol: solver tolerance of the MAP.
        map_max_iter: solver iteration limit of the MAP.
        **kwargs: the options of :class:`~torchxai.bayes._mixture.DPMixtureRegression`.
    """

    _name = "DMM-MEN"

    def __init__(
        self,
        n_components: int = 6,
        n_priors: int = 3,
        *,
        lambda1_prior: tuple[float, float] = (1.0, 0.5),
        lambda2_prior: tuple[float, float] = (4.0, 0.5),
        lambdas: Sequence[tuple[float, float]] | Tensor | None = None,
        prior_weight_concentration: float | None = None,
        estimator: str = "posterior",
        map_tol: float = 1e-7,
        map_max_iter: int = 20000,
        **kwargs: object,
    ) -> None:
        super().__init__(n_components, **kwargs)  # type: ignore[arg-type]
        self.n_priors = check_int("n_priors", n_priors, 1)
        self.lambda1_prior = self._check_pair("lambda1_prior", lambda1_prior)
        self.lambda2_prior = self._check_pair("lambda2_prior", lambda2_prior)
        self.lambdas = self._check_lambdas(lambdas)
        if prior_weight_concentration is None:
            prior_weight_concentration = 1.0 / self.n_priors
        self.prior_weight_concentration = self._check_pair(
            "prior_weight_concentration", (prior_weight_concentration, 1.0)
        )[0]
        if estimator not in ESTIMATORS:
            raise InvalidInputError(
                f"estimator must be one of {ESTIMATORS}, got {estimator!r}."
            )
        self.estimator = estimator
        self.map_tol = self._check_pair("map_tol", (map_tol, 1.0))[0]
        self.map_max_iter = check_int("map_max_iter", map_max_iter, 1)

    def _check_lambdas(
        self, lambdas: Sequence[tuple[float, float]] | Tensor | None
    ) -> Tensor | None:
        if lambdas is None:
            return None
        try:
            grid = torch.as_tensor(lambdas, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise InvalidInputError(
                f"lambdas must be {self.n_priors} pairs (lam1, lam2), got {lambdas!r}."
            ) from err
        ok = grid.shape == (self.n_priors, 2) and bool(torch.isfinite(grid).all())
        if not ok or bool((grid[:, 0] < 0).any()) or bool((grid[:, 1] <= 0).any()):
            raise InvalidInputError(
                f"lambdas must be {self.n_priors} pairs (lam1 >= 0, lam2 > 0), one per "
                f"elastic net (n_priors={self.n_priors}), got {lambdas!r}."
            )
        return grid

    # ----------------------------------------------------------------- model

    def _sample_prior_weights(self) -> Tensor:
        if self.n_priors == 1:
            return torch.ones(1, dtype=self._dtype, device=self._device)
        concentration = self._const(self.prior_weight_concentration).expand(
            [self.n_priors]
        )
        return pyro.sample("prior_weights", dist.Dirichlet(concentration))

    def _sample_lambdas(self) -> tuple[Tensor, Tensor]:
        if self.lambdas is not None:
            grid = self.lambdas.to(device=self._device, dtype=self._dtype)
            return grid[:, 0], grid[:, 1]
        lams = []
        for name, (shape, rate) in (
            ("lam1", self.lambda1_prior),
            ("lam2", self.lambda2_prior),
        ):
            prior = dist.Gamma(self._const(shape), self._const(rate))
            lams.append(pyro.sample(name, prior.expand([self.n_priors]).to_event(1)))
        return lams[0], lams[1]

    def _net_mixture(
        self, prior_weights: Tensor, lam1: Tensor, lam2: Tensor, sigma2: Tensor
    ) -> dist.MixtureSameFamily:
        """Per component j the prior ``sum_k w_k EN(beta_j; lam_k / (2 sigma2_j))``.

        Returns a distribution with batch shape (J,) and event shape (p,).
        """
        J, K, p = self.n_components, self.n_priors, self.n_features_in_
        denom = 2.0 * sigma2[:, None]  # (J, 1)
        eff1 = (lam1[None, :] / denom)[..., None]  # (J, K, 1)
        eff2 = (lam2[None, :] / denom)[..., None]
        nets = ElasticNetPrior(eff1, eff2).expand((J, K, p)).to_event(1)
        choice = dist.Categorical(probs=prior_weights.expand([J, K]))
        return dist.MixtureSameFamily(choice, nets)

    def _coef_prior_sd(self, noise_var: Tensor) -> Tensor:
        # the Gaussian part of the net at the mean lam2: sd^2 = sigma2 / lam2
        shape, rate = self.lambda2_prior
        lam2 = (
            shape / rate if self.lambdas is None else float(self.lambdas[:, 1].mean())
        )
        return (noise_var / lam2).sqrt()

    def _sample_coef(self, sigma2: Tensor) -> Tensor:
        prior_weights = self._sample_prior_weights()
        lam1, lam2 = self._sample_lambdas()
        prior = self._net_mixture(prior_weights, lam1, lam2, sigma2)
        return pyro.sample("coef", prior.to_event(1))

    def _latent_sites(self, start: MixtureStart) -> list[LatentSite]:
        sites = super()._latent_sites(start)
        if self.n_priors > 1:
            uniform = torch.full(
                (self.n_priors,), 1.0 / self.n_priors, dtype=self._dtype
            )
            sites.append(LatentSite("prior_weights", constraints.simplex, uniform))
        for name, (shape, rate) in (
            ("lam1", self.lambda1_prior),
            ("lam2", self.lambda2_prior),
        ):
            if self.lambdas is not None:
                break
            # spread the nets around the prior mean so they can specialize
            spread = torch.logspace(-1, 1, self.n_priors, dtype=self._dtype)
            if self.n_priors == 1:
                spread = torch.ones(1, dtype=self._dtype)
            sites.append(
                LatentSite(name, constraints.positive, (shape / rate) * spread)
            )
        return sites

    # ------------------------------------------------------- fitted values

    def _raw_prior_weights(self) -> Tensor:
        if self.n_priors == 1:
            return torch.ones(1, dtype=self._dtype, device=self._device)
        return self._require_guide().median("prior_weights")

    @property
    def prior_weights_(self) -> Tensor:
        """(K,) posterior median of the weights ``w`` of the elastic nets."""
        return self._raw_prior_weights()

    @property
    def lambda1_(self) -> Tensor:
        """(K,) posterior median (or fixed value) of each net's ``lam1_k``."""
        if self.lambdas is not None:
            self._require_guide()
            return self.lambdas[:, 0].to(device=self._device, dtype=self._dtype)
        return self._require_guide().median("lam1")

    @property
    def lambda2_(self) -> Tensor:
        """(K,) posterior median (or fixed value) of each net's ``lam2_k``."""
        if self.lambdas is not None:
            self._require_guide()
            return self.lambdas[:, 1].to(device=self._device, dtype=self._dtype)
        return self._require_guide().median("lam2")

    @torch.no_grad()
    def prior_assignment_probabilities(self) -> Tensor:
        """(J, K) posterior probability that component j uses net k, canonical order.

        Computed at the posterior medians: ``w_k EN(beta_j; lam_k / (2 sigma2_j))``
        normalized over k.
        """
        guide = self._require_guide()
        sigma2 = guide.median("sigma2")
        mixture = self._net_mixture(
            self._raw_prior_weights(), self.lambda1_, self.lambda2_, sigma2
        )
        coef = self._raw_coef_posterior()
        per_net = mixture.component_distribution.log_prob(coef[:, None, :])  # (J, K)
        logits = self._raw_prior_weights().clamp_min(1e-30).log() + per_net
        return torch.softmax(logits, dim=1)[self.order_]

    @property
    def prior_assignment_(self) -> Tensor:
        """(J,) int64 the elastic net each component uses (most probable), canonical."""
        return self.prior_assignment_probabilities().argmax(dim=1)

    # ------------------------------------------------------ coefficients

    def _raw_coef_posterior(self) -> Tensor:
        return self._require_guide().median("coef")

    def _raw_coef(self) -> Tensor:
        if self.estimator == "posterior":
            return self._raw_coef_posterior()
        if "map_coef" not in self._cache:
            self._cache["map_coef"] = self._map_coef()
        return self._cache["map_coef"]

    @torch.no_grad()
    def map_problem(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The elastic-net problems whose solutions are the MAP coefficients.

        Component j (model order) gets the inputs it is most probable for, ``n_j``
        of them, and its net ``k``; its MAP solves

            min_b  (1 / (2 n_j)) sum_{i in j} (y_i - b_0 - x_i . b)^2
                   + lam1_k / (2 n_j) ||b||_1 + lam2_k / (2 n_j) ||b||^2,

        i.e. ``torchxai.solvers.elastic_net`` with ``lam1 = lam1_k / (2 n_j)`` and
        ``lam2 = lam2_k / n_j`` (the noise variance cancels).

        Returns:
            ``(weights (J, n) 0/1 membership, lam1 (J,), lam2 (J,), labels (n,))``,
            all in model (not canonical) order.
        """
        X, y = self._X, self._y
        order = self.order_
        labels = self._log_lik_model_order(
            X, y, self._raw_coef_posterior(), self._raw_intercept_posterior()
        ).argmax(dim=1)
        nets = torch.empty_like(order)
        nets[order] = self.prior_assignment_
        member = (
            labels[None, :] == torch.arange(self.n_components, device=X.device)[:, None]
        )
        weights = member.to(X.dtype)
        counts = weights.sum(dim=1).clamp_min(1.0)
        lam1 = self.lambda1_[nets] / (2.0 * counts)
        lam2 = self.lambda2_[nets] / counts
        return weights, lam1, lam2, labels

    def _map_coef(self) -> Tensor:
        """(J, p) MAP coefficients in model order; zeros for empty components."""
        from torchxai.solvers import elastic_net

        X, y = self._X, self._y
        weights, lam1, lam2, _ = self.map_problem()
        coef = torch.zeros(
            self.n_components, X.shape[1], dtype=X.dtype, device=X.device
        )
        self._map_intercept = self._raw_intercept_posterior().clone()
        used = torch.nonzero(weights.sum(dim=1) > 0).flatten()
        if used.numel() == 0:
            return coef
        result = elastic_net(
            X.expand(used.numel(), *X.shape),
            y.expand(used.numel(), -1),
            lam1[used],
            lam2[used],
            weights=weights[used],
            fit_intercept=self.fit_intercept,
            tol=self.map_tol,
            max_iter=self.map_max_iter,
        )
        coef[used] = result.coef.to(X.dtype)
        if self.fit_intercept:
            self._map_intercept[used] = result.intercept.to(X.dtype)
        return coef

    def _raw_intercept_posterior(self) -> Tensor:
        return super()._raw_intercept()

    def _raw_intercept(self) -> Tensor:
        if self.estimator == "posterior":
            return self._raw_intercept_posterior()
        self._raw_coef()  # computes the MAP intercepts with the coefficients
        return self._map_intercept
