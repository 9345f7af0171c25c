"""The result type shared by every solver."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["SolverResult"]


@dataclass(frozen=True)
class SolverResult:
    """Solutions of B problems, with what the loop did for each.

    For one problem passed without a batch dimension ((n, p) design), the batch
    dimension is dropped: ``coef`` is (p,) and the other fields are 0-dim tensors.

    Attributes:
        coef: (B, p) coefficients.
        intercept: (B,) intercepts (zeros with ``fit_intercept=False``).
        n_iter: (B,) int64 iterations run per problem.
        objective: (B,) the objective at ``coef``, evaluated on the residuals.
        optimality: (B,) the optimality measure at the last iteration (the relative
            sup-norm of the composite gradient mapping; see ``torchxai.solvers``).
        converged: (B,) bool, whether ``optimality`` reached ``tol``.
        history: (T, B) objective after each iteration, NaN once a problem has
            stopped; None unless ``return_history=True``.
    """

    coef: Tensor
    intercept: Tensor
    n_iter: Tensor
    objective: Tensor
    optimality: Tensor
    converged: Tensor
    history: Tensor | None = None
