"""A hand-written mean-field guide over the global latents of a mixture model.

Each latent site is one event (no plates over globals): a Normal in the unconstrained
space pushed through ``biject_to(constraint)`` (a LogNormal for positive sites, a
logit-Normal for sticks, a logistic-Normal for simplexes), or a point mass (MAP) where
asked. Parameters are plain ``nn.Parameter``s of this module, not Pyro's global
parameter store, so several fitted models can live side by side in one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.distributions import biject_to
from torch.distributions.constraints import Constraint


@dataclass(frozen=True)
class LatentSite:
    """One global latent site of a model and how the guide approximates it.

    Attributes:
        name: the sample-site name in the model.
        constraint: the site's support, e.g. ``constraints.positive``.
        init: initial value in the constrained space; its shape is the event shape.
        point: True for a point mass (MAP), False for a Normal in unconstrained space.
        init_scale: initial standard deviation in the unconstrained space, a number
            or a tensor of the site's shape.
    """

    name: str
    constraint: Constraint
    init: Tensor
    point: bool = False
    init_scale: float | Tensor = 0.05


def _inverse_softplus(x: Tensor) -> Tensor:
    return x.expm1().log()


class MeanFieldGuide(nn.Module):
    """Mean-field guide: independent Normal (or Delta) per site, unconstrained space.

    Args:
        sites: the latent sites, in the order the model samples them.
    """

    def __init__(self, sites: Sequence[LatentSite]) -> None:
        super().__init__()
        self.sites = {site.name: site for site in sites}
        self.locs = nn.ParameterDict()
        self.raw_scales = nn.ParameterDict()
        for site in sites:
            transform = biject_to(site.constraint)
            self.locs[site.name] = nn.Parameter(transform.inv(site.init).detach())
            if not site.point:
                loc = self.locs[site.name]
                scale = torch.as_tensor(site.init_scale, dtype=loc.dtype)
                raw = _inverse_softplus(scale.to(loc.device).expand_as(loc).clone())
                self.raw_scales[site.name] = nn.Parameter(raw.detach())

    def forward(self, *args: object, **kwargs: object) -> dict[str, Tensor]:
        """Sample every site; takes (and ignores) the model's arguments."""
        return {name: pyro.sample(name, self.distribution(name)) for name in self.sites}

    def scale(self, name: str) -> Tensor:
        """Standard deviation in the unconstrained space (zeros for point sites)."""
        if name not in self.raw_scales:
            return torch.zeros_like(self.locs[name])
        return nn.functional.softplus(self.raw_scales[name]) + 1e-6

    def distribution(self, name: str) -> dist.TorchDistribution:
        """The guide's distribution of site ``name``, event shape = the site's shape."""
        site = self.sites[name]
        loc = self.locs[name]
        transform = biject_to(site.constraint)
        event_dim = site.init.dim()
        if site.point:
            return dist.Delta(transform(loc), event_dim=event_dim)
        base = dist.Normal(loc, self.scale(name)).to_event(loc.dim())
        return dist.TransformedDistribution(base, [transform])

    @torch.no_grad()
    def median(self, name: str) -> Tensor:
        """The posterior median (point value for point sites), constrained space."""
        return biject_to(self.sites[name].constraint)(self.locs[name]).detach()

    @torch.no_grad()
    def quantile(self, name: str, q: float) -> Tensor:
        """Marginal quantile ``q`` of each element of an elementwise-transformed site.

        Valid for real, positive and unit-interval sites (monotone elementwise
        transforms); point sites return their value.
        """
        site = self.sites[name]
        loc = self.locs[name]
        z = torch.special.ndtri(torch.tensor(q, dtype=loc.dtype, device=loc.device))
        return biject_to(site.constraint)(loc + z * self.scale(name)).detach()
