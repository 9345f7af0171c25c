"""Input checks of the bayes package: each names the argument, the value and the fix."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int ``>= minimum``, else raise InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{name} must be an integer >= {minimum}, got {value!r}."
        )
    return value


def check_float(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = True,
    high_open: bool = True,
) -> float:
    """Return ``value`` as a float if it lies in the stated interval, else raise."""
    ok_type = isinstance(value, int | float) and not isinstance(value, bool)
    number = float(value) if ok_type else math.nan  # type: ignore[arg-type]
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (ok_type and math.isfinite(number) and above and below):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise InvalidInputError(
            f"{name} must be a finite number in {left}{low}, {high}{right}, "
            f"got {value!r}."
        )
    return number


def check_design(X: object, name: str = "X") -> Tensor:
    """Check a (n, p) floating tensor of finite values; integers become float32."""
    if not isinstance(X, Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor of shape (n, p), got {type(X).__name__}."
        )
    if X.dim() != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise InvalidInputError(
            f"{name} must have shape (n, p) with n >= 2 and p >= 1, "
            f"got shape {tuple(X.shape)}."
        )
    if not X.is_floating_point():
        X = X.to(torch.get_default_dtype())
    if not bool(torch.isfinite(X).all()):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return X


def check_response(y: object, X: Tensor, name: str = "y") -> Tensor:
    """Check a (n,) response matching ``X`` in length and device; cast to X's dtype."""
    if not isinstance(y, Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor of shape (n,), got {type(y).__name__}."
        )
    if y.dim() != 1 or y.shape[0] != X.shape[0]:
        raise InvalidInputError(
            f"{name} must have shape ({X.shape[0]},) to match X, "
            f"got shape {tuple(y.shape)}."
        )
    if y.device != X.device:
        raise InvalidInputError(
            f"{name} is on {y.device} but X is on {X.device}; put both on one device."
        )
    y = y.to(X.dtype)
    if not bool(torch.isfinite(y).all()):
        raise InvalidInputError(f"{name} contains NaN or infinite values.")
    return y
