"""The truncated stick-breaking Dirichlet-process mixture of linear regressions.

Shared by :class:`~torchxai.bayes.DMMRegression` and :class:`~torchxai.bayes.DMMMEN`,
which differ only in the prior of the coefficients. The generative model, for inputs
``x_i`` (p,) and responses ``y_i``:

    alpha ~ Gamma(e, f)                                  concentration
    v_j ~ Beta(1, alpha),  j = 1..J-1                    stick-breaking fractions
    pi_j = v_j * prod_{l<j} (1 - v_l),  pi_J = prod_{l<J} (1 - v_l)
    sigma2_j ~ InverseGamma(a, b)                        noise variance
    beta_j | sigma2_j ~ (subclass prior)                 coefficients (J, p)
    b_j ~ Normal(mean(y), (10 * sd(y) + 1)^2)            intercept
    y_i ~ sum_j pi_j Normal(x_i . beta_j + b_j, sigma2_j)

The assignments ``z_i`` are marginalized by hand: the likelihood is a
``MixtureSameFamily`` whose ``log_prob`` is the logsumexp over components, which is
what ``TraceEnum_ELBO`` with ``config_enumerate`` computes, without its bookkeeping.
The guide is mean-field over the global latents (``_guide.MeanFieldGuide``), started
from a short hard EM (``_init.hard_em_start``) with the Laplace scales of that start,
so SVI begins near a mode. ClippedAdam's learning rate warms up over 25 steps and
decays geometrically to ``final_lr_ratio * lr`` at ``steps``.

Point estimates are posterior medians under the guide, read from an exponential
moving average of its parameters (``_fit.SVIFitter``). Components are reported in a
canonical order: by decreasing weight ``pi_j`` (label switching is resolved once,
after the fit, not per iteration as the seed's relabelling does).

Usage::

    dmm = DMMRegression(n_components=3, steps=2000, seed=0).fit(X, y)
    dmm.coef_, dmm.weights_, dmm.n_components_used_, dmm.converged_
    lower, upper = dmm.credible_intervals(level=0.9)
    component = dmm.responsibilities(X, y).argmax(dim=1)

    # or drive the loop yourself
    dmm = DMMRegression(3).setup(X, y)
    for _ in range(500):
        loss = dmm.step()

Deviations from the seed's Gibbs sampler (Guo et al.): variational inference instead
of MCMC; an intercept per component (the seed has none); zero prior mean for the
coefficients (the seed centers them at the column means of X).
"""

from __future__ import annotations

import logging
import math
import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import Tensor

from torchxai.bayes._fit import SVIFitter
from torchxai.bayes._guide import LatentSite, MeanFieldGuide
from torchxai.bayes._init import MixtureStart, hard_em_start
from torchxai.bayes._validate import (
    check_design,
    check_float,
    check_int,
    check_response,
)
from torchxai.errors import ConvergenceWarning, FitError, InvalidInputError

logger = logging.getLogger(__name__)


def stick_breaking(v: Tensor) -> Tensor:
    """Mixture weights from stick-breaking fractions.

    Args:
        v: (J-1,) fractions in (0, 1).

    Returns:
        (J,) weights ``pi_j = v_j * prod_{l<j} (1 - v_l)`` and the remainder last.
    """
    ones = torch.ones(1, dtype=v.dtype, device=v.device)
    remaining = torch.cat([ones, torch.cumprod(1.0 - v, dim=0)])
    return torch.cat([v, ones]) * remaining


def fractions_from_weights(weights: Tensor) -> Tensor:
    """Inverse of :func:`stick_breaking` for (J,) weights; fractions kept in (0, 1)."""
    left = 1.0 - torch.cumsum(weights, dim=0) + weights
    return (weights[:-1] / left[:-1].clamp_min(1e-12)).clamp(0.02, 0.98)


class DPMixtureRegression(ABC):
    """Base class: the DP mixture of regressions, its SVI fit and fitted attributes.

    Args:
        n_components: truncation level J of the stick-breaking prior.
        fit_intercept: give each component an intercept.
        concentration_prior: (shape e, rate f) of the Gamma prior of ``alpha``.
        noise_prior: (shape a, scale b) of the InverseGamma prior of ``sigma2_j``.
        steps: the most SVI steps of :meth:`fit`.
        lr: learning rate of ClippedAdam.
        final_lr_ratio: the learning rate decays geometrically to
            ``final_lr_ratio * lr`` at step ``steps``, so that the last iterates
            settle instead of jittering by about ``lr``.
        batch_size: subsample size per step; None uses all inputs.
        tol: convergence threshold, change in mean loss per input between two
            windows of ``window`` steps; :meth:`fit` stops once below it. None runs
            all ``steps``.
        window: steps per window of the convergence rule.
        seed: seed of every random draw of the fit.
        progress: show a tqdm progress bar in :meth:`fit`.
        weight_threshold: a component counts as used when its weight is at least this.
        n_init: hard-EM restarts of the starting values.
    """

    _name: ClassVar[str] = "DPMixtureRegression"

    def __init__(
        self,
        n_components: int = 3,
        *,
        fit_intercept: bool = True,
        concentration_prior: tuple[float, float] = (5.0, 1.0),
        noise_prior: tuple[float, float] = (0.5, 0.5),
        steps: int = 2000,
        lr: float = 0.01,
        final_lr_ratio: float = 0.05,
        batch_size: int | None = None,
        tol: float | None = 1e-3,
        window: int = 50,
        seed: int = 0,
        progress: bool = False,
        weight_threshold: float = 0.01,
        n_init: int = 5,
    ) -> None:
        self.n_components = check_int("n_components", n_components, 1)
        self.fit_intercept = bool(fit_intercept)
        self.concentration_prior = self._check_pair(
            "concentration_prior", concentration_prior
        )
        self.noise_prior = self._check_pair("noise_prior", noise_prior)
        self.steps = check_int("steps", steps, 1)
        self.lr = check_float("lr", lr, low=0.0)
        self.final_lr_ratio = check_float(
            "final_lr_ratio", final_lr_ratio, low=0.0, high=1.0, high_open=False
        )
        self.batch_size = (
            None if batch_size is None else check_int("batch_size", batch_size, 1)
        )
        self.tol = None if tol is None else check_float("tol", tol, low=0.0)
        self.window = check_int("window", window, 1)
        self.seed = check_int("seed", seed, 0)
        self.progress = bool(progress)
        self.weight_threshold = check_float(
            "weight_threshold", weight_threshold, low=0.0, high=1.0, low_open=False
        )
        self.n_init = check_int("n_init", n_init, 1)
        self._fitter: SVIFitter | None = None
        self._guide: MeanFieldGuide | None = None

    @staticmethod
    def _check_pair(name: str, value: object) -> tuple[float, float]:
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise InvalidInputError(
                f"{name} must be a pair (shape, rate/scale) of positive numbers, "
                f"got {value!r}."
            )
        first = check_float(f"{name}[0]", value[0], low=0.0)
        second = check_float(f"{name}[1]", value[1], low=0.0)
        return first, second

    # ----------------------------------------------------------------- model

    def _model(self, X: Tensor, y: Tensor, subsample: Tensor | None = None) -> None:
        """The Pyro model; see the module docstring."""
        n = X.shape[0]
        sigma2 = pyro.sample(
            "sigma2",
            dist.InverseGamma(
                self._const(self.noise_prior[0]), self._const(self.noise_prior[1])
            )
            .expand([self.n_components])
            .to_event(1),
        )
        weights = self._sample_weights()
        coef = self._sample_coef(sigma2)
        intercept = self._sample_intercept()
        with pyro.plate("data", n, subsample=subsample):
            Xb, yb = (X, y) if subsample is None else (X[subsample], y[subsample])
            mean = Xb @ coef.T + intercept
            components = dist.Normal(mean, sigma2.sqrt())
            mixture = dist.MixtureSameFamily(
                dist.Categorical(probs=weights), components
            )
            pyro.sample("obs", mixture, obs=yb)

    def _const(self, value: float) -> Tensor:
        return torch.tensor(value, dtype=self._dtype, device=self._device)

    def _sample_weights(self) -> Tensor:
        if self.n_components == 1:
            return torch.ones(1, dtype=self._dtype, device=self._device)
        shape, rate = self.concentration_prior
        alpha = pyro.sample("alpha", dist.Gamma(self._const(shape), self._const(rate)))
        one = self._const(1.0)
        v = pyro.sample(
            "v", dist.Beta(one, alpha).expand([self.n_components - 1]).to_event(1)
        )
        return stick_breaking(v)

    def _sample_intercept(self) -> Tensor:
        if not self.fit_intercept:
            return torch.zeros(
                self.n_components, dtype=self._dtype, device=self._device
            )
        prior = dist.Normal(self._intercept_loc, self._intercept_scale)
        return pyro.sample("intercept", prior.expand([self.n_components]).to_event(1))

    @abstractmethod
    def _sample_coef(self, sigma2: Tensor) -> Tensor:
        """Sample the coefficients (J, p) (and any latents of their prior)."""

    def _latent_sites(self, start: MixtureStart) -> list[LatentSite]:
        """The guide's sites, started at ``start``; subclasses add theirs.

        Scales start at the conditional-posterior (Laplace) scales of the start, so
        SVI begins near the optimum of the guide and few steps are needed.
        """
        positive, real = constraints.positive, constraints.real
        empty = start.counts == 0
        coef_sd = torch.where(
            empty[:, None], self._coef_prior_sd(start.noise_var)[:, None], start.coef_sd
        )
        intercept = torch.where(empty, self._intercept_loc, start.intercept)
        intercept_sd = torch.where(empty, self._intercept_scale, start.intercept_sd)
        log_var_sd = (2.0 / start.counts.clamp_min(2.0)).sqrt()
        sites = [LatentSite("sigma2", positive, start.noise_var, False, log_var_sd)]
        if self.n_components > 1:
            v = fractions_from_weights(start.weights)
            sites.append(LatentSite("alpha", positive, self._const(1.0), False, 0.3))
            sites.append(LatentSite("v", constraints.unit_interval, v, False, 0.05))
        sites.append(LatentSite("coef", real, start.coef, False, coef_sd))
        if self.fit_intercept:
            sites.append(LatentSite("intercept", real, intercept, False, intercept_sd))
        return sites

    @abstractmethod
    def _coef_prior_sd(self, noise_var: Tensor) -> Tensor:
        """(J,) a typical prior sd of one coefficient given the noise variances."""

    # ------------------------------------------------------------------ fit

    def setup(self, X: Tensor, y: Tensor) -> DPMixtureRegression:
        """Validate the data, compute starting values and build guide and optimizer.

        After ``setup`` each :meth:`step` takes one SVI step, for users who drive
        their own loop; :meth:`fit` calls ``setup`` and then loops.

        Args:
            X: (n, p) inputs, n >= 2, on any device; the fit runs there.
            y: (n,) responses on the same device.

        Returns:
            self.
        """
        X = check_design(X, "X")
        y = check_response(y, X, "y")
        self._X, self._y = X, y
        self._device, self._dtype = X.device, X.dtype
        self.n_features_in_ = X.shape[1]
        y_sd = float(y.std()) if y.numel() > 1 else 1.0
        self._intercept_loc = y.mean()
        self._intercept_scale = self._const(10.0 * y_sd + 1.0)
        generator = torch.Generator().manual_seed(self.seed)
        start = hard_em_start(
            X,
            y,
            self.n_components,
            generator=generator,
            fit_intercept=self.fit_intercept,
            noise_prior=self.noise_prior,
            n_init=self.n_init,
        )
        self._guide = MeanFieldGuide(self._latent_sites(start)).to(self._device)
        self._fitter = SVIFitter(
            self._model,
            self._guide,
            (X, y),
            n_obs=X.shape[0],
            lr=self.lr,
            seed=self.seed,
            device=self._device,
            batch_size=self.batch_size,
            lr_decay=self.final_lr_ratio ** (1.0 / self.steps),
            name=self._name,
        )
        self._cache: dict[str, Tensor] = {}
        return self

    def step(self) -> float:
        """Take one SVI step (after :meth:`setup`); return the loss (negative ELBO).

        Raises:
            FitError: not set up, or the loss is NaN (the message names the step).
        """
        loss = self._require_fitter().step()
        self._cache = {}
        return loss

    def fit(
        self,
        X: Tensor,
        y: Tensor,
        *,
        steps: int | None = None,
        lr: float | None = None,
        progress: bool | None = None,
    ) -> DPMixtureRegression:
        """Fit the mixture to ``(X, y)`` by SVI; warn if the loss did not converge.

        Args:
            X: (n, p) inputs.
            y: (n,) responses (e.g. the model's logit of the explained class).
            steps: overrides the constructor's ``steps``.
            lr: overrides the constructor's ``lr``.
            progress: overrides the constructor's ``progress``.

        Returns:
            self, fitted.

        Raises:
            InvalidInputError: bad shapes or values.
            FitError: the loss became NaN; the message names the step.
        """
        if steps is not None:
            self.steps = check_int("steps", steps, 1)
        if lr is not None:
            self.lr = check_float("lr", lr, low=0.0)
        self.setup(X, y)
        fitter = self._require_fitter()
        show = self.progress if progress is None else bool(progress)
        converged = fitter.run(
            self.steps, tol=self.tol, window=self.window, progress=show
        )
        self._cache = {}
        if self.tol is not None and not converged:
            warnings.warn(
                f"{self._name} did not converge in {fitter.n_steps} SVI steps: "
                f"the mean loss per input changed by {self.loss_change_:.3g} "
                f"between the last two windows of {self.window} steps "
                f"(tol={self.tol}). "
                "Raise steps or lr.",
                ConvergenceWarning,
                stacklevel=2,
            )
        logger.info(
            "%s fitted: %d steps, final loss %.6g, %d of %d components used",
            self._name,
            fitter.n_steps,
            fitter.loss_history[-1],
            self.n_components_used_,
            self.n_components,
        )
        return self

    def _require_fitter(self) -> SVIFitter:
        if self._fitter is None:
            raise FitError(
                f"{self._name} is not fitted: call fit(X, y) or setup(X, y) first."
            )
        return self._fitter

    def _require_guide(self) -> MeanFieldGuide:
        """The guide with iterate-averaged parameters, for point estimates."""
        guide = self._require_fitter().averaged_guide()
        assert isinstance(guide, MeanFieldGuide)
        return guide

    # ------------------------------------------------------- point estimates

    def _raw_weights(self) -> Tensor:
        guide = self._require_guide()
        if self.n_components == 1:
            return torch.ones(1, dtype=self._dtype, device=self._device)
        return stick_breaking(guide.median("v"))

    def _raw_intercept(self) -> Tensor:
        guide = self._require_guide()
        if not self.fit_intercept:
            return torch.zeros(
                self.n_components, dtype=self._dtype, device=self._device
            )
        return guide.median("intercept")

    def _raw_coef(self) -> Tensor:
        """(J, p) coefficients in the model's (not canonical) order."""
        return self._require_guide().median("coef")

    @property
    def order_(self) -> Tensor:
        """(J,) the canonical order: model component indices by decreasing weight."""
        if "order" not in self._cache:
            weights = self._raw_weights()
            self._cache["order"] = torch.argsort(weights, descending=True, stable=True)
        return self._cache["order"]

    @property
    def weights_(self) -> Tensor:
        """(J,) mixture weights (posterior medians of the sticks), canonical order."""
        return self._raw_weights()[self.order_]

    @property
    def coef_(self) -> Tensor:
        """(J, p) coefficients (posterior medians), canonical order."""
        return self._raw_coef()[self.order_]

    @property
    def intercept_(self) -> Tensor:
        """(J,) intercepts, canonical order (zeros without an intercept)."""
        return self._raw_intercept()[self.order_]

    @property
    def noise_variance_(self) -> Tensor:
        """(J,) noise variances ``sigma2_j`` (posterior medians), canonical order."""
        return self._require_guide().median("sigma2")[self.order_]

    @property
    def concentration_(self) -> float:
        """Posterior median of the concentration ``alpha`` (nan when J = 1)."""
        if self.n_components == 1:
            return math.nan
        return float(self._require_guide().median("alpha"))

    @property
    def counts_(self) -> Tensor:
        """(J,) training inputs whose most probable component is j, canonical order."""
        if "counts" not in self._cache:
            labels = self.responsibilities(self._X, self._y).argmax(dim=1)
            self._cache["counts"] = torch.bincount(labels, minlength=self.n_components)
        return self._cache["counts"]

    @property
    def n_components_used_(self) -> int:
        """Components that explain at least one training input (most probable for
        it) and have weight at least ``weight_threshold``."""
        used = (self.weights_ >= self.weight_threshold) & (self.counts_ > 0)
        return int(used.sum())

    @property
    def loss_history_(self) -> list[float]:
        """Loss (negative ELBO estimate) of every SVI step taken."""
        return list(self._require_fitter().loss_history)

    @property
    def n_steps_(self) -> int:
        """Number of SVI steps taken."""
        return self._require_fitter().n_steps

    @property
    def loss_change_(self) -> float:
        """Change of the mean loss per input between the last two windows."""
        from torchxai.bayes._fit import window_change

        fitter = self._require_fitter()
        return window_change(fitter.loss_history, self.window, fitter.n_obs)

    @property
    def converged_(self) -> bool:
        """Whether :attr:`loss_change_` is below ``tol`` (False without ``tol``)."""
        return self.tol is not None and self.loss_change_ < self.tol

    # ---------------------------------------------------------- predictions

    def _check_X(self, X: Tensor) -> Tensor:
        X = check_design_any(X, self.n_features_in_)
        return X.to(device=self._device, dtype=self._dtype)

    def _log_lik_model_order(
        self, X: Tensor, y: Tensor, coef: Tensor, intercept: Tensor
    ) -> Tensor:
        """(m, J) log weight plus log density of y per component, model order."""
        mean = X @ coef.T + intercept
        sd = self._require_guide().median("sigma2").sqrt()
        log_weights = self._raw_weights().clamp_min(1e-30).log()
        return log_weights + dist.Normal(mean, sd).log_prob(y[:, None])

    @torch.no_grad()
    def component_log_likelihood(self, X: Tensor, y: Tensor) -> Tensor:
        """(m, J) ``log pi_j + log N(y | x . beta_j + b_j, sigma2_j)``, canonical order.

        Args:
            X: (m, p) inputs.
            y: (m,) responses.
        """
        X = self._check_X(X)
        y = check_response(y.to(self._device) if isinstance(y, Tensor) else y, X, "y")
        raw = self._log_lik_model_order(X, y, self._raw_coef(), self._raw_intercept())
        return raw[:, self.order_]

    @torch.no_grad()
    def responsibilities(self, X: Tensor, y: Tensor) -> Tensor:
        """(m, J) posterior probability of each component for each (input, response).

        Args:
            X: (m, p) inputs.
            y: (m,) responses (the explained model's outputs on X).
        """
        return torch.softmax(self.component_log_likelihood(X, y), dim=1)

    @torch.no_grad()
    def predict_components(self, X: Tensor) -> Tensor:
        """(m, J) each component's prediction ``x . beta_j + b_j``, canonical order."""
        X = self._check_X(X)
        return X @ self.coef_.T + self.intercept_

    @torch.no_grad()
    def predict(self, X: Tensor, y: Tensor | None = None) -> Tensor:
        """Predict the response.

        Args:
            X: (m, p) inputs.
            y: optional (m,) observed responses. Without it the prediction is the
                mixture mean ``sum_j pi_j (x . beta_j + b_j)`` (as the seed's
                posterior-predictive mean); with it, each input is predicted by its
                most probable component given ``(x, y)``, the component that
                explains it.

        Returns:
            (m,) predictions, in the units of the response.
        """
        per_component = self.predict_components(X)
        if y is None:
            return per_component @ self.weights_
        chosen = self.responsibilities(X, y).argmax(dim=1)
        return per_component.gather(1, chosen[:, None]).squeeze(1)

    @torch.no_grad()
    def credible_intervals(self, level: float = 0.9) -> tuple[Tensor, Tensor]:
        """Equal-tailed credible intervals of every coefficient under the guide.

        The guide is mean-field Normal over the coefficients, so intervals are
        ``median -/+ z * sd``; mean-field VI tends to be overconfident where
        features are strongly correlated.

        Args:
            level: probability mass inside each interval, in (0, 1).

        Returns:
            (lower, upper), each (J, p) in canonical order.
        """
        level = check_float("level", level, low=0.0, high=1.0)
        guide = self._require_guide()
        tail = (1.0 - level) / 2.0
        lower = guide.quantile("coef", tail)[self.order_]
        upper = guide.quantile("coef", 1.0 - tail)[self.order_]
        return lower, upper


def check_design_any(X: object, n_features: int) -> Tensor:
    """Check a (m, p) matrix for prediction (m may be 1)."""
    if not isinstance(X, Tensor) or X.dim() != 2 or X.shape[1] != n_features:
        shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
        raise InvalidInputError(
            f"X must be a tensor of shape (m, {n_features}), got {shape}."
        )
    if not X.is_floating_point():
        X = X.to(torch.get_default_dtype())
    if not bool(torch.isfinite(X).all()):
        raise InvalidInputError("X contains NaN or infinite values.")
    return X
