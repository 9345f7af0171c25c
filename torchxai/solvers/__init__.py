"""Batched proximal-gradient solvers for penalized weighted least squares.

Thousands of small regressions (one per explained input and mixture component) are
solved at once, on the device of the tensors, in float32 or float64:

- :func:`lasso`, :func:`elastic_net`, :func:`fused_lasso`: penalized weighted least
  squares with an optional unpenalized intercept;
- :func:`fused_lasso_constrained`: least squares with ``sum_j |d beta_j| <= bound``;
- :func:`lambda_max`: the smallest L1 strength with an all-zero lasso solution;
- :func:`tv_prox`: the exact 1-D total-variation prox, batched.

The layer knows nothing about explanations. It is split by role: the data fit
(``datafits``), the penalties and their proxes (``penalties``, ``tv_prox``,
``tv_ball``), the accelerated proximal-gradient loop (``fista``) and these thin public
functions (``api``).
"""

from __future__ import annotations

from torchxai.solvers.api import (
    elastic_net,
    fused_lasso,
    fused_lasso_constrained,
    lambda_max,
    lasso,
)
from torchxai.solvers.result import SolverResult
from torchxai.solvers.tv_prox import tv_prox

__all__ = [
    "SolverResult",
    "elastic_net",
    "fused_lasso",
    "fused_lasso_constrained",
    "lambda_max",
    "lasso",
    "tv_prox",
]
