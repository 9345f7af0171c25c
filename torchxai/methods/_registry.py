"""The registry of explanation methods, by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchxai.errors import InvalidInputError
from torchxai.explanation import Explanation
from torchxai.methods._task import ExplainTask

MethodFn = Callable[[ExplainTask, dict[str, Any]], Explanation]
"""A method: ``fn(task, options) -> Explanation``, with ``options`` the method's own
options (its defaults overridden by the caller's)."""


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the name given to :func:`torchxai.explain`.
        fn: the function that computes the explanation.
        defaults: the method's own options and their defaults; any other option
            (beyond the options common to every method) is refused.
        requires_grad: run the method with autograd enabled (gradient-based methods);
            otherwise it runs under ``torch.no_grad()``.
    """

    name: str
    fn: MethodFn
    defaults: Mapping[str, Any] = field(default_factory=dict)
    requires_grad: bool = False

    def __call__(self, task: ExplainTask, options: dict[str, Any]) -> Explanation:
        """Run the method on a prepared task."""
        return self.fn(task, options)


_METHODS: dict[str, MethodSpec] = {}

_LAZY: dict[str, str] = {
    "dmm": "torchxai.methods.dmm",
    "dmm_men": "torchxai.methods.dmm",
}
"""Methods registered on first use by their module's ``register()`` (heavy imports:
the global DMM methods import Pyro)."""


def register_method(
    name: str,
    fn: MethodFn,
    *,
    defaults: Mapping[str, Any] | None = None,
    requires_grad: bool = False,
    overwrite: bool = False,
) -> MethodSpec:
    """Make a method available to :func:`torchxai.explain` under ``name``.

    Args:
        name: the method's name (a non-empty string).
        fn: ``fn(task, options) -> Explanation``; see :class:`ExplainTask`.
        defaults: the method's own options with their default values.
        requires_grad: run with autograd enabled instead of under ``no_grad``.
        overwrite: replace a method already registered under this name.

    Returns:
        The registered spec.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"method name must be a non-empty string; got {name!r}")
    if not callable(fn):
        raise InvalidInputError(f"method {name!r}: fn must be callable; got {fn!r}")
    if name in _METHODS and not overwrite:
        raise InvalidInputError(
            f"a method named {name!r} is already registered; pass overwrite=True to "
            "replace it"
        )
    spec = MethodSpec(name, fn, dict(defaults or {}), requires_grad)
    _METHODS[name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The method registered under ``name``.

    Raises:
        InvalidInputError: no such method; the message lists the available ones.
    """
    if isinstance(name, str) and name not in _METHODS and name in _LAZY:
        importlib.import_module(_LAZY[name]).register()
    if not isinstance(name, str) or name not in _METHODS:
        raise InvalidInputError(
            f"unknown method {name!r}; available methods: "
            f"{', '.join(sorted(set(_METHODS) | set(_LAZY)))}"
        )
    return _METHODS[name]


def available_methods() -> list[str]:
    """The names of the registered methods, sorted.

    The global methods ``"dmm"`` and ``"dmm_men"`` register themselves on their first
    use through :func:`get_method` (or :func:`torchxai.explain`), so they are listed
    only from then on.
    """
    return sorted(_METHODS)
