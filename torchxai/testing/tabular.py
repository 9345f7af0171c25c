"""A sparse logistic model of tabular inputs: only the chosen columns matter."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from torchxai.errors import InvalidInputError
from torchxai.testing._sample import (
    PlantedSample,
    check_count,
    check_float_input,
    check_positive,
    generator,
    two_class_logits,
)


class PlantedTabularModel(nn.Module):
    """Two classes decided by a weighted share of a few relevant columns.

    For an input x of p features the class-1 logit is

    .. math::

        z(x) = \\text{scale} \\cdot \\Big(\\frac{\\sum_{j \\in R} w_j x_j}
        {\\sum_{j \\in R} w_j} - \\frac12\\Big)

    with weights ``w_j`` in [0.5, 1.5] on the relevant columns R and exactly 0
    elsewhere, so the output depends on the columns of R and on no other column.
    ``forward`` returns the logits ``(0, z)``: the probability of class 1 is
    ``sigmoid(z)``.

    Args:
        n_features: the number p of columns.
        relevant: the relevant column indices; if None, ``n_relevant`` columns
            drawn with ``seed``.
        n_relevant: how many columns to draw when ``relevant`` is None.
        seed: seed of the drawn columns and of the weights.
        scale: the logit's slope; with the default 6, an input with every
            relevant column 1 has probability ``sigmoid(3)`` = 0.95 of class 1 and
            one with every relevant column 0 has 0.05.

    Attributes:
        relevant_features: the sorted relevant column indices.
        weights: (p,) buffer, zero outside ``relevant_features``.
    """

    weights: Tensor

    def __init__(
        self,
        n_features: int = 20,
        relevant: Sequence[int] | None = None,
        *,
        n_relevant: int = 4,
        seed: int = 0,
        scale: float = 6.0,
    ) -> None:
        super().__init__()
        self.n_features = check_count("n_features", n_features, 1)
        self.scale = check_positive("scale", scale)
        gen = generator(seed)
        if relevant is None:
            count = check_count("n_relevant", n_relevant, 1)
            if count > n_features:
                raise InvalidInputError(
                    f"n_relevant must be at most n_features={n_features}; got {count}"
                )
            relevant = torch.randperm(n_features, generator=gen)[:count].tolist()
        self.relevant_features = _check_columns(relevant, n_features)
        weights = torch.zeros(n_features, dtype=torch.float64)
        draws = 0.5 + torch.rand(len(self.relevant_features), generator=gen)
        weights[list(self.relevant_features)] = draws.to(torch.float64)
        self.register_buffer("weights", weights.to(torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the two classes.

        Args:
            x: (N, p) float features.

        Returns:
            (N, 2) logits ``(0, z(x))`` in the dtype of ``x``.
        """
        x = check_float_input(type(self).__name__, x, (self.n_features,), self.weights)
        weights = self.weights.to(x.dtype)
        share = (x @ weights) / weights.sum()
        return two_class_logits(self.scale * (share - 0.5))

    def predict_proba(self, x: Tensor) -> Tensor:
        """Class probabilities ``softmax(forward(x))``, (N, 2)."""
        return torch.softmax(self(x), dim=-1)

    def relevant_mask(self, x: Tensor) -> Tensor:
        """The elements of each input that the output depends on.

        Args:
            x: (N, p) inputs.

        Returns:
            (N, p) bool, True in the relevant columns.
        """
        x = check_float_input(type(self).__name__, x, (self.n_features,), self.weights)
        mask = self.weights != 0
        return mask.expand(x.shape).clone()

    def sample(self, n: int, *, seed: int = 0) -> PlantedSample:
        """Binary inputs of class 1: relevant columns 1, the others fair coin flips.

        Switching a relevant column to 0 (the usual baseline) lowers the class-1
        probability; switching any other column changes nothing.

        Args:
            n: the number of inputs.
            seed: seed of the coin flips.

        Returns:
            ``inputs`` (n, p) float32 in {0, 1}, ``target`` (n,) ones, ``relevant``
            (n, p), on the model's device.
        """
        count = check_count("n", n, 1)
        gen = generator(seed)
        inputs = (torch.rand(count, self.n_features, generator=gen) < 0.5).float()
        inputs[:, list(self.relevant_features)] = 1.0
        inputs = inputs.to(self.weights.device)
        target = torch.ones(count, dtype=torch.int64, device=inputs.device)
        return PlantedSample(inputs, target, self.relevant_mask(inputs))


def _check_columns(relevant: Sequence[int], n_features: int) -> tuple[int, ...]:
    """Distinct column indices in [0, n_features), sorted."""
    try:
        items = list(relevant)
        values = [operator.index(v) for v in items if not isinstance(v, bool)]
        ok = len(values) == len(items) > 0
    except TypeError:
        ok = False
    if (
        not ok
        or len(set(values)) != len(values)
        or not all(0 <= v < n_features for v in values)
    ):
        raise InvalidInputError(
            f"relevant must be distinct column indices in [0, {n_features}); "
            f"got {relevant!r}"
        )
    return tuple(sorted(values))
