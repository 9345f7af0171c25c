"""The elastic-net prior as a normalized Pyro distribution.

Each coordinate has the density

    p(b) = exp(-lam1 * |b| - lam2 * b**2) / Z(lam1, lam2),
    Z(lam1, lam2) = sqrt(pi / lam2) * erfcx(lam1 / (2 * sqrt(lam2))),

the prior of the Bayesian elastic net (Li & Lin 2010) written with the noise
variance folded into ``lam1`` and ``lam2``. ``erfcx(z) = exp(z**2) * erfc(z)`` keeps
``log Z`` finite for any ``lam1 / sqrt(lam2)``.

The normalizer is exact (not "up to a constant") on purpose: DMM-MEN chooses, for each
component, one of several elastic nets, and learns their ``(lam1, lam2)``; both need
densities that are comparable across different ``(lam1, lam2)``, which an unnormalized
density would not give. With the closed form no scale-mixture latent variables are
needed, so the guide stays small and any guide (Normal or Delta) can be used for the
coefficients.
"""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints
from torch import Tensor
from torch.distributions.utils import broadcast_all

__all__ = ["ElasticNetPrior", "elastic_net_log_normalizer"]

_LOG_PI = math.log(math.pi)


def elastic_net_log_normalizer(lam1: Tensor, lam2: Tensor) -> Tensor:
    """Return ``log Z``, the log normalizer of one coordinate of the elastic-net prior.

    Args:
        lam1: L1 strength, ``>= 0``, any shape.
        lam2: L2 strength, ``> 0``, broadcastable with ``lam1``.

    Returns:
        ``0.5 * log(pi / lam2) + log(erfcx(lam1 / (2 * sqrt(lam2))))``, broadcast shape.
    """
    z = lam1 / (2.0 * lam2.sqrt())
    return 0.5 * (_LOG_PI - lam2.log()) + torch.special.erfcx(z).log()


class ElasticNetPrior(TorchDistribution):
    """Independent elastic-net density ``exp(-lam1 |b| - lam2 b^2) / Z`` per coordinate.

    A scalar (event shape ``()``) distribution; use ``.expand(...)`` and
    ``.to_event(...)`` for coefficient vectors. ``lam2 > 0`` is required (with
    ``lam2 = 0`` the density is a Laplace and the closed form above degenerates).

    Args:
        lam1: L1 strength, float or tensor ``>= 0``.
        lam2: L2 strength, float or tensor ``> 0``, broadcastable with ``lam1``.
        validate_args: forwarded to :class:`torch.distributions.Distribution`.
    """

    arg_constraints = {
        "lam1": constraints.nonnegative,
        "lam2": constraints.positive,
    }
    support = constraints.real
    has_rsample = False

    def __init__(
        self,
        lam1: Tensor | float,
        lam2: Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.lam1, self.lam2 = broadcast_all(lam1, lam2)
        super().__init__(self.lam1.shape, validate_args=validate_args)

    def expand(
        self,
        batch_shape: torch.Size | list[int] | tuple[int, ...],
        _instance: object = None,
    ) -> ElasticNetPrior:
        """Return the same prior with ``lam1``, ``lam2`` expanded to ``batch_shape``."""
        new = self._get_checked_instance(ElasticNetPrior, _instance)
        batch_shape = torch.Size(batch_shape)
        new.lam1 = self.lam1.expand(batch_shape)
        new.lam2 = self.lam2.expand(batch_shape)
        super(ElasticNetPrior, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        """Zero: the density is symmetric."""
        return torch.zeros_like(self.lam1)

    def log_prob(self, value: Tensor) -> Tensor:
        """Exact log density, shape ``broadcast(value, batch_shape)``."""
        if self._validate_args:
            self._validate_sample(value)
        penalty = self.lam1 * value.abs() + self.lam2 * value.square()
        return -penalty - elastic_net_log_normalizer(self.lam1, self.lam2)

    def sample(
        self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()
    ) -> Tensor:
        """Exact draws: ``|b|`` is a Normal truncated to ``(0, inf)``, the sign fair.

        ``|b| ~ N(-lam1 / (2 lam2), 1 / (2 lam2))`` truncated at zero, drawn by the
        inverse CDF of the upper tail (an exponential tail approximation where that
        tail probability underflows). Uses the global torch generator, like every
        Pyro distribution.
        """
        shape = self._extended_shape(torch.Size(sample_shape))
        lam1 = self.lam1.expand(shape).double()
        lam2 = self.lam2.expand(shape).double()
        scale = (2.0 * lam2).rsqrt()
        cut = lam1 * scale  # standardized truncation point lam1 / sqrt(2 lam2)
        u = torch.rand(shape, dtype=torch.float64, device=lam1.device).clamp_min(1e-300)
        tail = torch.special.ndtr(-cut)
        safe = tail > 1e-200
        exact = -torch.special.ndtri(u * tail.clamp_min(1e-200))
        approx = cut - u.log() / cut.clamp_min(1.0)
        z = torch.where(safe, exact, approx)
        magnitude = ((z - cut) * scale).clamp_min(0.0)
        sign = torch.where(torch.rand(shape, device=lam1.device) < 0.5, -1.0, 1.0)
        return (sign * magnitude).to(self.lam1.dtype)
