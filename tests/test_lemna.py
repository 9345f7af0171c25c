"""LEMNA: the batched EM for mixtures of fused-lasso regressions, and the method."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import torchxai
from torchxai.errors import DataFileMissingError, InvalidInputError
from torchxai.mixture import fit_mixture, random_responsibilities

WEIGHT_EPS = 1e-6  # documented in torchxai.mixture: solver weights are r + 1e-6


def _numpy_wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Weighted least squares with an intercept, by numpy's lstsq."""
    design = np.hstack([np.ones((X.shape[0], 1)), X])
    root = np.sqrt(w)[:, None]
    solution = np.linalg.lstsq(design * root, y * root[:, 0], rcond=None)[0]
    return solution[1:], float(solution[0])


def _wls_solver(
    X: torch.Tensor,
    y: torch.Tensor,
    lam1: Any,
    lam2: Any,
    *,
    weights: torch.Tensor,
    **_: Any,
) -> SimpleNamespace:
    """A stand-in solver (penalties ignored) for checking the EM bookkeeping."""
    coefs, intercepts = [], []
    for Xi, yi, wi in zip(X.numpy(), y.numpy(), weights.numpy(), strict=True):
        coef, intercept = _numpy_wls(Xi, yi, wi)
        coefs.append(coef)
        intercepts.append(intercept)
    return SimpleNamespace(
        coef=torch.tensor(np.array(coefs)), intercept=torch.tensor(np.array(intercepts))
    )


def _planted(n: int = 600, p: int = 8, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, p)) < 0.5).astype(np.float64)
    beta = np.stack([rng.normal(0, 1, p), rng.normal(0, 1, p)])
    intercept = np.array([0.5, -0.5])
    regime = (rng.random(n) < 0.4).astype(np.int64)
    y = intercept[regime] + np.einsum("np,np->n", X, beta[regime])
    y = y + noise * rng.normal(size=n)
    return X, y, regime


def test_one_em_iteration_matches_a_numpy_computation() -> None:
    X, y, _ = _planted(n=120, p=4)
    resp0 = random_responsibilities(120, 3, torch.Generator().manual_seed(1))
    fit = fit_mixture(
        torch.tensor(X)[None],
        torch.tensor(y)[None],
        resp0[None],
        0.0,
        0.0,
        max_iter=1,
        solver=_wls_solver,
    )
    r = resp0.numpy()
    coefs, intercepts = zip(
        *[_numpy_wls(X, y, r[:, k] + WEIGHT_EPS) for k in range(3)], strict=True
    )
    coef, intercept = np.array(coefs), np.array(intercepts)
    residual = y[:, None] - (X @ coef.T + intercept)
    variance = (r * residual**2).sum(0) / r.sum(0)
    variance = np.maximum(variance, 1e-6 * y.var())
    mixing = r.sum(0) / len(y)
    log_joint = -0.5 * (np.log(2 * np.pi * variance) + residual**2 / variance) + np.log(
        mixing
    )
    top = log_joint.max(1, keepdims=True)
    per_sample = top[:, 0] + np.log(np.exp(log_joint - top).sum(1))
    resp = np.exp(log_joint - per_sample[:, None])

    np.testing.assert_allclose(fit.coef[0].numpy(), coef, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        fit.intercept[0].numpy(), intercept, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(fit.variance[0].numpy(), variance, rtol=1e-9)
    np.testing.assert_allclose(fit.mixing[0].numpy(), mixing, rtol=1e-9)
    np.testing.assert_allclose(
        fit.responsibilities[0].numpy(), resp, rtol=1e-7, atol=1e-12
    )
    np.testing.assert_allclose(
        float(fit.log_likelihood[0]), per_sample.mean(), rtol=1e-9
    )
    assert fit.n_iter.tolist() == [1]
    prediction = (resp * (X @ coef.T + intercept)).sum(1)
    np.testing.assert_allclose(
        fit.predict(torch.tensor(X)[None])[0].numpy(), prediction
    )


def test_em_bookkeeping_is_batched_problem_by_problem() -> None:
    problems = [_planted(n=100, p=3, seed=s) for s in range(3)]
    X = torch.tensor(np.stack([p[0] for p in problems]))
    y = torch.tensor(np.stack([p[1] for p in problems]))
    init = torch.stack(
        [
            random_responsibilities(100, 2, torch.Generator().manual_seed(s))
            for s in range(3)
        ]
    )
    batched = fit_mixture(
        X, y, init, 0.0, 0.0, max_iter=15, tol=1e-8, solver=_wls_solver
    )
    for i in range(3):
        alone = fit_mixture(
            X[i : i + 1],
            y[i : i + 1],
            init[i : i + 1],
            0.0,
            0.0,
            max_iter=15,
            tol=1e-8,
            solver=_wls_solver,
        )
        assert int(alone.n_iter[0]) == int(batched.n_iter[i])
        torch.testing.assert_close(alone.coef[0], batched.coef[i])
        torch.testing.assert_close(
            alone.responsibilities[0], batched.responsibilities[i]
        )


def test_degenerate_data_gives_no_nan() -> None:
    X = torch.tensor(_planted(n=80, p=5)[0])[None].expand(2, 80, 5).clone()
    y = torch.stack(
        [
            torch.full((80,), 0.7, dtype=torch.float64),
            X[1] @ torch.ones(5, dtype=torch.float64),
        ]
    )
    init = random_responsibilities(80, 6, torch.Generator().manual_seed(0))[
        None
    ].expand(2, 80, 6)
    fit = fit_mixture(X, y, init, 0.0, 0.0, max_iter=20, solver=_wls_solver)
    for value in (
        fit.coef,
        fit.intercept,
        fit.variance,
        fit.mixing,
        fit.responsibilities,
        fit.log_likelihood,
    ):
        assert bool(torch.isfinite(value).all())
    torch.testing.assert_close(fit.mixing.sum(1), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(fit.predict(X), y, atol=1e-6, rtol=0)


def test_fit_mixture_refuses_bad_shapes() -> None:
    X = torch.zeros(2, 10, 3)
    with pytest.raises(InvalidInputError, match="y must have shape"):
        fit_mixture(
            X, torch.zeros(2, 9), torch.ones(2, 10, 1), 0.0, 0.0, solver=_wls_solver
        )
    with pytest.raises(InvalidInputError, match="init_responsibilities"):
        fit_mixture(
            X, torch.zeros(2, 10), torch.ones(2, 10), 0.0, 0.0, solver=_wls_solver
        )


# ------------------------------------------------------ with the real solver


@pytest.mark.parametrize("inner_max_iter", [None, 3])
def test_em_recovers_a_planted_mixture_of_two_regimes(
    inner_max_iter: int | None,
) -> None:
    """Also with capped M-steps in the loop and an exact one at the end."""
    from torchxai.solvers import fused_lasso

    X_np, y_np, regime = _planted(n=600, p=8, noise=0.01)
    X, y = torch.tensor(X_np)[None], torch.tensor(y_np)[None]
    options = {"tol": 1e-10, "max_iter": 20_000}
    two = fit_mixture(
        X,
        y,
        random_responsibilities(600, 2, torch.Generator().manual_seed(0))[None],
        1e-6,
        1e-6,
        max_iter=100,
        tol=1e-9,
        solver_options=options,
        inner_max_iter=inner_max_iter,
    )
    one = fit_mixture(
        X, y, torch.ones(1, 600, 1, dtype=torch.float64), 1e-6, 1e-6,
        solver_options=options,
    )  # fmt: skip
    assigned = two.responsibilities[0].argmax(dim=1).numpy()
    match = assigned[regime == 1][0]  # the component that took regime 1
    agreement = ((assigned == match) == (regime == 1)).mean()
    assert agreement > 0.97
    for label, component in ((1, match), (0, 1 - match)):
        coef, intercept = _numpy_wls(
            X_np[regime == label],
            y_np[regime == label],
            np.ones(int((regime == label).sum())),
        )
        np.testing.assert_allclose(two.coef[0, component].numpy(), coef, atol=0.01)
        assert abs(float(two.intercept[0, component]) - intercept) < 0.01
    rmse_two = float(((two.predict(X) - y) ** 2).mean().sqrt())
    rmse_one = float(((one.predict(X) - y) ** 2).mean().sqrt())
    assert rmse_two < 0.03 < 0.3 < rmse_one
    np.testing.assert_allclose(
        sorted(two.mixing[0].tolist()), sorted([0.6, 0.4]), atol=0.05
    )
    if inner_max_iter is not None:
        # the component covering sample 0 solves its weighted fused lasso exactly
        covering = int(two.covering_component(0)[0])
        weights = two.responsibilities[:, :, covering] + WEIGHT_EPS
        reference = fused_lasso(X, y, 1e-6, 1e-6, weights=weights, **options)
        np.testing.assert_allclose(
            two.coef[0, covering].numpy(), reference.coef[0].numpy(), atol=1e-7
        )
        assert bool(two.solver_converged.all())


def test_one_component_is_a_single_fused_lasso() -> None:
    from torchxai.solvers import fused_lasso

    X_np, y_np, _ = _planted(n=200, p=12)
    X, y = torch.tensor(X_np), torch.tensor(y_np)
    fit = fit_mixture(
        X[None],
        y[None],
        torch.ones(1, 200, 1, dtype=torch.float64),
        0.01,
        0.05,
        solver_options={"tol": 1e-10, "max_iter": 50_000},
    )
    reference = fused_lasso(X[None], y[None], 0.01, 0.05, tol=1e-10, max_iter=50_000)
    np.testing.assert_allclose(
        fit.coef[0, 0].numpy(), reference.coef[0].numpy(), atol=1e-6
    )
    assert int(fit.n_iter[0]) == 1


class SparseLogistic(torch.nn.Module):
    """Two-class logits from a logistic model on a few columns."""

    def __init__(self, p: int, weights: dict[int, float], bias: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(p))
        with torch.no_grad():
            for index, value in weights.items():
                self.w[index] = value
        self.b = bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = x @ self.w + self.b
        return torch.stack([-logit, logit], dim=-1) / 2


def test_lemna_ranks_the_features_the_model_reads_first() -> None:
    model = SparseLogistic(20, {3: 2.5, 11: 2.0, 16: 1.5}, bias=-3.0).eval()
    x = torch.ones(2, 20)
    exp = torchxai.explain(
        model, x, output="logits", target=1, n_samples=200, em_iter=15
    )
    for row in range(2):
        assert set(exp.top_k(3)[row].tolist()) == {3, 11, 16}
    assert exp.coefficients is not None and exp.coefficients.shape == (2, 6, 20)


def test_lemna_on_a_constant_model_gives_zero_scores_without_nan() -> None:
    def constant(x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0.3, 0.7]]).expand(x.shape[0], 2)

    exp = torchxai.explain(constant, torch.rand(2, 10), n_samples=100)
    assert bool(torch.isfinite(exp.coefficients).all())
    assert bool((exp.scores.abs() < 1e-6).all())
    assert bool((exp.fit_rmse < 1e-6).all())


def test_lemna_fits_the_pdf_mlp_better_than_lime() -> None:
    try:
        from torchxai.datasets import binarize, load_contagio
        from torchxai.models import load_pdf_mlp

        model = load_pdf_mlp()
        data = load_contagio()
    except DataFileMissingError as exc:
        pytest.skip(f"data not available: {exc}")
    distinct = torch.unique(binarize(data.features[data.labels == 1]), dim=0)
    order = torch.randperm(len(distinct), generator=torch.Generator().manual_seed(0))
    x = distinct[order[:3]]
    options = {"output": "logits", "target": 1, "n_samples": 300}
    lemna = torchxai.explain(model, x, em_iter=5, **options)
    lime = torchxai.explain(model, x, "lime", **options)
    assert bool((lemna.fit_rmse < lime.fit_rmse).all())


def test_capped_m_steps_refuse_bad_settings() -> None:
    X, y = torch.zeros(1, 10, 3), torch.zeros(1, 10)
    init = torch.full((1, 10, 2), 0.5)
    with pytest.raises(InvalidInputError, match="inner_max_iter"):
        fit_mixture(X, y, init, 0.0, 0.0, inner_max_iter=0)
    with pytest.raises(InvalidInputError, match="polish_sample"):
        fit_mixture(X, y, init, 0.0, 0.0, inner_max_iter=2, polish_sample=10)


def test_baseline_features_are_no_columns_of_the_surrogate() -> None:
    """K = 1 on an input with zeros: rebuild the masks and check the surrogate.

    The zero columns are never switched off (1 in every mask) and score 0; the
    reported intercept and coefficients, scattered back to the table's columns,
    must reproduce ``fit_rmse`` on the rebuilt samples.
    """
    from torchxai.samplers import input_generators, perturb, sample_masks

    model = SparseLogistic(10, {0: 2.0, 3: -1.5, 4: 1.0, 8: 2.5}, bias=-1.0).eval()
    x = torch.tensor([[1.0, 0, 1, 1, 0, 1, 1, 0, 1, 0]])
    exp = torchxai.explain(
        model,
        x,
        n_components=1,
        n_samples=200,
        seed=2,
        lam2=0.05,
        solver_tol=1e-8,
        output="logits",
    )
    assert exp.coefficients is not None and exp.intercepts is not None
    coef, intercept = exp.coefficients[0, 0].double(), exp.intercepts[0, 0].double()
    assert bool((coef[x[0] == 0] == 0).all()) and bool((coef[x[0] != 0] != 0).any())
    generator = input_generators(2, x, exp.target)[0]
    masks = torch.ones(200, 10, dtype=torch.bool)  # the zeros are never switched off
    masks[:, x[0] != 0] = sample_masks(200, int((x[0] != 0).sum()), generator)
    copies = perturb(x.expand(200, 10), torch.arange(10).expand(200, 10), masks,
                     torch.tensor(0.0))  # fmt: skip
    with torch.no_grad():
        y = model(copies).softmax(-1)[:, int(exp.target[0])].double()
    prediction = intercept + masks.double() @ coef
    rmse = float(((prediction - y) ** 2).mean().sqrt())
    assert rmse == pytest.approx(float(exp.fit_rmse[0]), rel=1e-5, abs=1e-7)
