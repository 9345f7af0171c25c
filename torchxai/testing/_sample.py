"""What the planted models' samplers return, and the checks they share."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError


@dataclass(frozen=True)
class PlantedSample:
    """Inputs of a planted model, with the target to explain and the ground truth.

    Attributes:
        inputs: (n, *input_shape) the inputs; the planted rule fires on each.
        target: what to pass as ``target=`` to :func:`torchxai.explain`: (n,) int64
            classes, or (n, 2) int64 ``(position, class)`` for the sequence model.
        relevant: (n, *input_shape) bool, True at the elements the model's output
            for ``target`` depends on.
    """

    inputs: Tensor
    target: Tensor
    relevant: Tensor


def check_count(name: str, value: object, minimum: int) -> int:
    """An integer argument at least ``minimum``, else an error naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{name} must be an integer >= {minimum}; got {value!r}"
        )
    return value


def check_positive(name: str, value: object) -> float:
    """A finite number > 0, else an error naming it."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (0 < float(value) < float("inf")):  # type: ignore[arg-type]
        raise InvalidInputError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def generator(seed: object) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (a non-negative integer)."""
    return torch.Generator().manual_seed(check_count("seed", seed, 0))


def check_float_input(
    owner: str, x: object, shape: tuple[int, ...], reference: Tensor
) -> Tensor:
    """Check a float batch: a tensor (N, *shape) on the device of ``reference``.

    Raises:
        InvalidInputError: naming the model, what was given and what was expected.
    """
    if not isinstance(x, Tensor):
        raise InvalidInputError(
            f"{owner} expects a torch.Tensor; got {type(x).__name__}"
        )
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        expected = ", ".join(str(d) for d in shape)
        raise InvalidInputError(
            f"{owner} expects inputs of shape (N, {expected}); got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise InvalidInputError(
            f"{owner} expects floating-point inputs; got dtype {x.dtype}"
        )
    check_device(owner, x, reference)
    return x


def check_device(owner: str, x: Tensor, reference: Tensor) -> None:
    """Raise if ``x`` is not on the device of ``reference``."""
    if x.device != reference.device:
        raise InvalidInputError(
            f"{owner} is on {reference.device} but the input is on {x.device}; "
            "move one of them with .to(device)"
        )


def two_class_logits(z: Tensor) -> Tensor:
    """Logits ``(0, z)``: the probability of class 1 is ``sigmoid(z)``.

    Args:
        z: (...) the class-1 logit.

    Returns:
        (..., 2) logits.
    """
    return torch.stack([torch.zeros_like(z), z], dim=-1)
