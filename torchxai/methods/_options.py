"""Checks of option values shared by the methods; each error names the option."""

from __future__ import annotations

import math
from typing import Any

from torchxai.errors import InvalidInputError


def integer(name: str, value: Any, minimum: int) -> int:
    """An integer option at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"option {name} must be an integer >= {minimum}; got {value!r}"
        )
    return int(value)


def real(name: str, value: Any, minimum: float = 0.0, *, strict: bool = False) -> float:
    """A finite number option at least (or, if strict, above) ``minimum``."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = (
        ok
        and math.isfinite(value)
        and (value > minimum if strict else value >= minimum)
    )
    if not ok:
        relation = ">" if strict else ">="
        raise InvalidInputError(
            f"option {name} must be a finite number {relation} {minimum}; got {value!r}"
        )
    return float(value)


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """A string option among ``allowed``."""
    if value not in allowed:
        raise InvalidInputError(
            f"option {name} must be one of {allowed}; got {value!r}"
        )
    return str(value)


def flag(name: str, value: Any) -> bool:
    """A boolean option."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"option {name} must be True or False; got {value!r}")
    return value
