"""Input checks of the public solver functions; each error names the argument."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from torchxai.errors import InvalidInputError

__all__ = ["Batch", "check_batch", "check_strength", "resolve_lam1"]


@dataclass(frozen=True)
class Batch:
    """Validated data of B problems, always batched.

    Attributes:
        X: (B, n, p) float32 or float64 designs.
        y: (B, n) targets, X's dtype.
        weights: (B, n) non-negative weights with positive sums, or None.
        init: (B, p) starting coefficients.
        tol: (B,) positive tolerances.
        max_iter: the most iterations.
        batched: False when the caller passed one problem without a batch dimension.
    """

    X: Tensor
    y: Tensor
    weights: Tensor | None
    init: Tensor
    tol: Tensor
    max_iter: int
    batched: bool


def check_batch(
    X: object,
    y: object,
    weights: object,
    init: object = None,
    tol: object = 1e-6,
    max_iter: object = 5000,
) -> Batch:
    """Check the data and loop options shared by every solver.

    Args:
        X: (B, n, p) or (n, p) float tensor.
        y: (B, n) or (n,) real tensor, cast to X's dtype.
        weights: same shape as y, or None.
        init: (B, p) or (p,) coefficients, or None for zeros.
        tol: positive float or (B,) tensor.
        max_iter: positive int.

    Returns:
        The batch, with a leading batch dimension added if needed.

    Raises:
        InvalidInputError: naming the argument, the value given and what is expected.
    """
    if not isinstance(X, Tensor):
        raise InvalidInputError(f"X must be a torch.Tensor; got {type(X).__name__}")
    if X.dtype not in (torch.float32, torch.float64) or X.dim() not in (2, 3):
        raise InvalidInputError(
            f"X must be a float32 or float64 tensor of shape (B, n, p) or (n, p); got "
            f"dtype {X.dtype} and shape {tuple(X.shape)}"
        )
    batched = X.dim() == 3
    X3 = X.detach() if batched else X.detach()[None]
    B, n, p = X3.shape
    if min(B, n, p) < 1:
        raise InvalidInputError(
            f"X needs at least one problem, sample and feature; got shape "
            f"{tuple(X.shape)}"
        )
    y2 = _check_like_y("y", y, X, (B, n), batched)
    w2 = (
        None
        if weights is None
        else _check_like_y("weights", weights, X, (B, n), batched)
    )
    _check_finite("X", X3)
    _check_finite("y", y2)
    if w2 is not None:
        _check_finite("weights", w2)
        if bool((w2 < 0).any()):
            raise InvalidInputError(
                f"weights must be non-negative; got a minimum of {float(w2.min()):.6g}"
            )
        empty = torch.nonzero(w2.sum(1) <= 0).flatten()
        if empty.numel() > 0:
            raise InvalidInputError(
                f"weights must have a positive sum per problem; problems "
                f"{empty[:5].tolist()} have all-zero weights"
            )
    # contiguous copies: reductions over a strided layout add up in another order,
    # which would make a problem's bits depend on how the caller laid the batch out
    X3, y2 = X3.contiguous(), y2.contiguous()
    w2 = None if w2 is None else w2.contiguous()
    return Batch(
        X=X3,
        y=y2,
        weights=w2,
        init=_check_init(init, X3, batched),
        tol=_check_tol(tol, X3),
        max_iter=_check_max_iter(max_iter),
        batched=batched,
    )


def check_strength(name: str, value: object, like: Tensor) -> Tensor:
    """A penalty strength as a (B,) tensor on ``like``'s device and dtype.

    Args:
        name: the argument's name for messages.
        value: a non-negative float or a () or (B,) tensor.
        like: (B, n, p) the design, for B, dtype and device.

    Returns:
        (B,) strengths.
    """
    B = like.shape[0]
    if isinstance(value, bool) or not isinstance(value, (int, float, Tensor)):
        raise InvalidInputError(
            f"{name} must be a non-negative float or a ({B},) tensor; got "
            f"{type(value).__name__}"
        )
    t = torch.as_tensor(value).detach()
    if t.dim() > 1 or (t.dim() == 1 and t.shape[0] != B):
        raise InvalidInputError(
            f"{name} must be a float or a tensor of shape ({B},), one per problem; got "
            f"shape {tuple(t.shape)}"
        )
    t = t.to(device=like.device, dtype=like.dtype).expand(B)
    if not bool(torch.isfinite(t).all()):
        raise InvalidInputError(f"{name} must be finite; got {_show(t)}")
    if bool((t < 0).any()):
        raise InvalidInputError(f"{name} must be non-negative; got {_show(t)}")
    return t.clone()


def resolve_lam1(lam1: object, lam1_fraction: object, like: Tensor) -> Tensor | None:
    """Check that exactly one of ``lam1`` and ``lam1_fraction`` is given.

    Returns:
        The (B,) absolute ``lam1``, or None when a fraction was given (checked, to be
        multiplied by ``lambda_max`` later by the caller).
    """
    if (lam1 is None) == (lam1_fraction is None):
        raise InvalidInputError(
            "give exactly one of lam1 (an absolute penalty) and lam1_fraction (a "
            f"fraction of lambda_max); got lam1={lam1!r} and "
            f"lam1_fraction={lam1_fraction!r}"
        )
    if lam1 is not None:
        return check_strength("lam1", lam1, like)
    return None


def _check_like_y(
    name: str, value: object, X: Tensor, shape: tuple[int, int], batched: bool
) -> Tensor:
    """y or weights: a real tensor of shape (B, n), or (n,) for one problem."""
    if not isinstance(value, Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor; got {type(value).__name__}"
        )
    expected = shape if batched else shape[1:]
    if tuple(value.shape) != tuple(expected):
        raise InvalidInputError(
            f"{name} must have shape {tuple(expected)} to match X of shape "
            f"{tuple(X.shape)}; got {tuple(value.shape)}"
        )
    if value.dtype.is_complex or value.dtype == torch.bool:
        raise InvalidInputError(
            f"{name} must hold real numbers; got dtype {value.dtype}"
        )
    if value.device != X.device:
        raise InvalidInputError(
            f"{name} is on {value.device} but X is on {X.device}; move both to one "
            "device"
        )
    out = value.detach().to(X.dtype)
    return out if batched else out[None]


def _check_init(init: object, X3: Tensor, batched: bool) -> Tensor:
    """(B, p) starting coefficients, zeros when None."""
    B, _, p = X3.shape
    if init is None:
        return X3.new_zeros(B, p)
    if not isinstance(init, Tensor):
        raise InvalidInputError(
            f"init must be a torch.Tensor or None; got {type(init).__name__}"
        )
    expected = (B, p) if batched else (p,)
    if tuple(init.shape) != expected:
        raise InvalidInputError(
            f"init must have shape {expected}, one row of coefficients per problem; "
            f"got {tuple(init.shape)}"
        )
    out = init.detach().to(device=X3.device, dtype=X3.dtype)
    _check_finite("init", out)
    return (out if batched else out[None]).clone()


def _check_tol(tol: object, X3: Tensor) -> Tensor:
    """(B,) positive tolerances."""
    B = X3.shape[0]
    if isinstance(tol, bool) or not isinstance(tol, (int, float, Tensor)):
        raise InvalidInputError(
            f"tol must be a positive float or a ({B},) tensor; got {type(tol).__name__}"
        )
    t = torch.as_tensor(tol).detach()
    if t.dim() > 1 or (t.dim() == 1 and t.shape[0] != B):
        raise InvalidInputError(
            f"tol must be a float or a tensor of shape ({B},); got {tuple(t.shape)}"
        )
    t = t.to(device=X3.device, dtype=X3.dtype).expand(B).clone()
    if not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
        raise InvalidInputError(f"tol must be finite and positive; got {_show(t)}")
    return t


def _check_max_iter(max_iter: object) -> int:
    """A positive int."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidInputError(f"max_iter must be a positive int; got {max_iter!r}")
    return max_iter


def _check_finite(name: str, t: Tensor) -> None:
    """Raise when ``t`` holds NaN or inf, saying how many.

    Two reductions instead of a boolean copy of the whole tensor: NaN propagates
    through ``amax`` and ``amin``, and inf shows up in one of them.
    """
    if t.numel() == 0:
        return
    if bool(torch.isfinite(t.amax())) and bool(torch.isfinite(t.amin())):
        return
    bad = int((~torch.isfinite(t)).sum())
    raise InvalidInputError(
        f"{name} contains {bad} NaN or inf values; pass finite values"
    )


def _show(t: Tensor) -> str:
    """A short text of a (B,) tensor for messages."""
    if t.numel() == 1 or bool((t == t[0]).all()):
        return f"{float(t[0]):.6g}"
    bad = t[~torch.isfinite(t) | (t < 0)]
    worst = float(bad[0]) if bad.numel() else float(t.min())
    return f"a tensor with the value {worst:.6g}"
