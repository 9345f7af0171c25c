"""LEMNA: a local mixture of K linear regressions, each a weighted fused lasso.

For each explained input, LEMNA (Guo et al., "LEMNA: Explaining Deep Learning based
Security Applications", CCS 2018) draws ``n_samples`` binary keep-masks z (the first
one all ones, the input itself), queries the model's target probability on the
perturbed copies, and fits by EM a mixture of K linear regressions of the
probability on z (:func:`torchxai.mixture.fit_mixture`), each component's
coefficients by a fused lasso weighted by the responsibilities. The explanation is
the coefficient vector of the component that covers the input: the one with the
highest responsibility for the all-ones sample.

``fit_rmse`` is the root mean squared difference, over the n samples, between the
model's output and the mixture's responsibility-weighted prediction
:math:`\\sum_k r_{ik} (b_k + z_i^\\top \\beta_k)`. The responsibilities are
posteriors that already saw each sample's output, so this in-sample error is
optimistic; it is the mixture's fit, not a prediction error.

Options (besides the common ones of :func:`torchxai.explain`):

* ``n_components`` (6, as in the paper): K; K = 1 is the single fused lasso of the
  seed code.
* ``lam1`` (0.001) and ``lam2`` (``"auto"``): the L1 and fused penalties of the
  M-step. ``"auto"`` is 0.01 for the sequence and image samplers, whose feature
  order is the order of bytes or pixels, and 0 for the tabular sampler, whose
  column order means nothing (see below).
* ``penalty_scale`` (``"relative"``): with ``"relative"`` the penalties are
  fractions of each input's ``lambda_max`` (the smallest L1 penalty that makes the
  unweighted lasso of y on z all zero), so they follow the scale of the model's
  probability changes; with ``"absolute"`` they are used as given.
* ``em_iter`` (10) and ``em_tol`` (1e-3): the EM iteration cap and the tolerance on
  the change of the mean log-likelihood per sample. (The penalized EM is not
  monotone: on the PDF MLP its mean log-likelihood rises for about 20 iterations
  and then wanders by about 1e-3. Ten iterations cost a third of thirty, and on
  the MLP and the RNN they explained as well or better by the fidelity tests; see
  the README for the measured comparison.)
* ``m_step_iter`` (10): the most solver iterations of each M-step inside the EM
  loop (warm-started from the previous M-step: a generalized EM step that only has
  to improve). After the loop, the component covering the explained input is
  solved again to ``solver_tol`` (:func:`torchxai.mixture.fit_mixture`'s
  ``inner_max_iter``), so the reported explanation is an exact weighted fused
  lasso for the final responsibilities; the other components keep the
  coefficients of their last capped M-step. ``None`` solves every M-step to
  ``solver_tol`` (slower; the path of the EM changes, not its fixed points).
* ``solver_tol`` (1e-4) and ``solver_max_iter`` (2000): the solver's tolerance and
  iteration cap for that final solve (and for every M-step when ``m_step_iter`` is
  None). A ConvergenceWarning is raised once when the final solve of some input did
  not reach ``solver_tol``.

Known limitation, measured: with K > 1 the covering component can describe the
plateau around a confidently classified input (the samples in which the decisive
features are all kept, so that the probability hardly changes). Within that
component those features never change, their coefficients are not identified and
the penalty sets them to 0; the other components carry them. ``coefficients``
holds every component, and K = 1 (the seed code's single fused lasso) avoids the
issue. On the PDF MLP this was far less harmful than fusing table columns (below):
with the tabular defaults K = 6 and K = 1 explained equally well by the fidelity
tests (README, "Results you can re-run").

Where this deviates from the paper and the seed code:

* The paper bounds the fused term by a constant S (constrained form); this uses
  the penalized (Lagrangian) form with a penalty per component, relative to
  ``lambda_max`` by default, because one bound S cannot suit all inputs whose
  probability changes have different scales. The defaults (``lam2`` = 1% of
  ``lambda_max`` on sequences and images, ``lam1`` = 0.1%) keep the surrogates
  close to least squares while joining equal neighbours (TV denoising of the
  coefficient sequence) and breaking ties in the under-determined components; the
  seed code's single fused lasso at ``lambda = sqrt(n log p)`` on genlasso's
  unnormalized scale corresponds to ``penalty_scale="absolute", lam1=0,
  lam2=sqrt(log(p) / n)`` here with K = 1.
* The seed code fits without an intercept; here every component has an unpenalized
  intercept.
* The fused penalty joins features that are adjacent in the feature order. The
  seed applies the same code to every model, so for tabular features that order
  is the column order, and neighbouring columns of a table (two unrelated PDF
  features, say) are pulled towards equal coefficients. Measured on 200 malicious
  PDFs (PDF MLP, K = 6, 500 samples, ``scripts/reproduce_lemna.py``): with the
  fused term (``lam2=0.01``) removing the top-5 features left 88.5% of them
  classified malicious, without it (the tabular default) 12.5%. Pass ``lam2``
  explicitly to fuse table columns whose order does mean something.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from torchxai.errors import ConvergenceWarning, InvalidInputError
from torchxai.explanation import Explanation
from torchxai.methods import _options as check
from torchxai.methods._task import ExplainTask, SurrogateFit, fit_surrogates
from torchxai.mixture import fit_mixture, random_responsibilities

DEFAULTS: dict[str, Any] = {
    "n_components": 6,
    "lam1": 0.001,
    "lam2": "auto",
    "penalty_scale": "relative",
    "em_iter": 10,
    "em_tol": 1e-3,
    "solver_tol": 1e-4,
    "solver_max_iter": 2000,
    "m_step_iter": 10,
}

PENALTY_SCALES = ("relative", "absolute")

AUTO_LAM2 = {"tabular": 0.0, "sequence": 0.01, "image": 0.01}
"""``lam2="auto"`` per sampler: no fusion where the feature order is arbitrary."""


def validate(options: dict[str, Any]) -> dict[str, Any]:
    """Check LEMNA's options; return them normalized."""
    return {
        "n_components": check.integer("n_components", options["n_components"], 1),
        "lam1": check.real("lam1", options["lam1"]),
        "lam2": _fused_strength(options["lam2"]),
        "penalty_scale": check.choice(
            "penalty_scale", options["penalty_scale"], PENALTY_SCALES
        ),
        "em_iter": check.integer("em_iter", options["em_iter"], 1),
        "em_tol": check.real("em_tol", options["em_tol"]),
        "solver_tol": check.real("solver_tol", options["solver_tol"], strict=True),
        "solver_max_iter": check.integer(
            "solver_max_iter", options["solver_max_iter"], 1
        ),
        "m_step_iter": None
        if options["m_step_iter"] is None
        else check.integer("m_step_iter", options["m_step_iter"], 1),
    }


def explain_lemna(task: ExplainTask, options: dict[str, Any]) -> Explanation:
    """Explain every input of the task with LEMNA.

    Args:
        task: the checked problem from :func:`torchxai.explain`.
        options: LEMNA's options (see the module docstring).

    Returns:
        The explanation; ``coefficients`` (B, K, p) holds all components.
    """
    opts = validate(options)
    if opts["lam2"] == "auto":
        opts["lam2"] = AUTO_LAM2.get(task.sampler, 0.01)

    def fitter(X: Tensor, y: Tensor, generators: list[torch.Generator]) -> SurrogateFit:
        return fit_lemna(X, y, generators, opts)

    return fit_surrogates(task, "lemna", opts, fitter, opts["n_components"])


def fit_lemna(
    X: Tensor, y: Tensor, generators: list[torch.Generator], opts: dict[str, Any]
) -> SurrogateFit:
    """Fit the mixture for G inputs.

    Args:
        X: (G, n, p) keep-masks as floats.
        y: (G, n) target probabilities.
        generators: one generator per input (initial responsibilities).
        opts: validated LEMNA options.

    Returns:
        The surrogate of each input.
    """
    n_samples = X.shape[1]
    init = torch.stack(
        [
            random_responsibilities(n_samples, opts["n_components"], g)
            for g in generators
        ]
    ).to(device=X.device, dtype=X.dtype)
    lam1, lam2 = penalties(X, y, opts)
    fit = fit_mixture(
        X,
        y,
        init,
        lam1,
        lam2,
        max_iter=opts["em_iter"],
        tol=opts["em_tol"],
        solver_options={"tol": opts["solver_tol"], "max_iter": opts["solver_max_iter"]},
        inner_max_iter=opts["m_step_iter"],
    )
    _warn_unsolved(fit.solver_converged, opts)
    return SurrogateFit(
        coef=fit.coef,
        intercept=fit.intercept,
        mixing=fit.mixing,
        component=fit.covering_component(0),
        prediction=fit.predict(X),
    )


def _fused_strength(value: Any) -> float | str:
    """``lam2``: ``"auto"`` or a finite number >= 0."""
    if isinstance(value, str):
        if value != "auto":
            raise InvalidInputError(
                f"option lam2 must be 'auto' or a finite number >= 0; got {value!r}"
            )
        return value
    return check.real("lam2", value)


def penalties(X: Tensor, y: Tensor, opts: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """The L1 and fused penalties of each input, (G,) each."""
    count = X.shape[0]
    lam1 = torch.full((count,), opts["lam1"], dtype=X.dtype, device=X.device)
    lam2 = torch.full((count,), opts["lam2"], dtype=X.dtype, device=X.device)
    if opts["penalty_scale"] == "relative":
        from torchxai.solvers import lambda_max

        scale = lambda_max(X, y).to(X.dtype)
        lam1, lam2 = lam1 * scale, lam2 * scale
    return lam1, lam2


def _warn_unsolved(solved: Tensor, opts: dict[str, Any]) -> None:
    """One ConvergenceWarning when the last M-step missed the solver's tolerance."""
    missed = int((~solved).sum())
    if missed:
        warnings.warn(
            f"lemna: for {missed} of {solved.numel()} inputs the last M-step's fused "
            f"lasso did not reach solver_tol={opts['solver_tol']:g} within "
            f"solver_max_iter={opts['solver_max_iter']} iterations; raise "
            "solver_max_iter or loosen solver_tol",
            ConvergenceWarning,
            stacklevel=2,
        )
