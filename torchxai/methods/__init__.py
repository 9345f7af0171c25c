"""Explanation methods, registered by name for :func:`torchxai.explain`.

Built in: ``"lemna"`` (:mod:`torchxai.methods.lemna`), ``"lime"``
(:mod:`torchxai.methods.lime`) and ``"random"``
(:mod:`torchxai.methods.random_baseline`). A new method is one function
``fn(task, options) -> Explanation`` registered with :func:`register_method`; it
receives an :class:`ExplainTask` (checked inputs, targets, feature map, seeded
generators and the wrapped model) and its own options.
:func:`torchxai.methods.captum_adapter.register_captum` turns a captum attribution
class into such a method.
"""

from __future__ import annotations

from torchxai.methods import lemna, lime, random_baseline
from torchxai.methods._registry import (
    MethodFn,
    MethodSpec,
    available_methods,
    get_method,
    register_method,
)
from torchxai.methods._task import ExplainTask, SurrogateFit, fit_surrogates

register_method("lemna", lemna.explain_lemna, defaults=lemna.DEFAULTS)
register_method("lime", lime.explain_lime, defaults=lime.DEFAULTS)
register_method(
    "random", random_baseline.explain_random, defaults=random_baseline.DEFAULTS
)

__all__ = [
    "ExplainTask",
    "MethodFn",
    "MethodSpec",
    "SurrogateFit",
    "available_methods",
    "fit_surrogates",
    "get_method",
    "register_method",
]
