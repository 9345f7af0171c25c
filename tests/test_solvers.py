"""The batched solvers against cvxpy and scikit-learn, on random and degenerate data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from torchxai.errors import ConvergenceWarning, InvalidInputError
from torchxai.solvers import (
    SolverResult,
    elastic_net,
    fused_lasso,
    fused_lasso_constrained,
    lambda_max,
    lasso,
)
from torchxai.solvers.datafits import Quadratic, weighted_moments
from torchxai.solvers.penalties import L1, ElasticNetPenalty, FusedL1, TVBall

cp = pytest.importorskip("cvxpy")
linear_model = pytest.importorskip("sklearn.linear_model")

KINDS = ("lasso", "elastic_net", "fused_lasso", "constrained")
REL_OBJECTIVE = 1e-5


# ----------------------------------------------------------------- references
def objective(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    coef: np.ndarray,
    intercept: float,
    kind: str,
    lam1: float,
    lam2: float,
) -> float:
    """The documented objective, written out in numpy (the constraint is not added)."""
    residual = y - intercept - X @ coef
    fit = float(np.sum(w * residual**2) / (2 * np.sum(w)))
    l1 = float(np.abs(coef).sum())
    if kind == "lasso":
        return fit + lam1 * l1
    if kind == "elastic_net":
        return fit + lam1 * l1 + lam2 / 2 * float(coef @ coef)
    if kind == "fused_lasso":
        return fit + lam1 * l1 + lam2 * float(np.abs(np.diff(coef)).sum())
    return fit


def cvxpy_solution(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    kind: str,
    lam1: float,
    lam2: float,
    fit_intercept: bool,
) -> tuple[np.ndarray, float]:
    """The same problem through cvxpy (Clarabel, tight tolerances)."""
    p = X.shape[1]
    beta = cp.Variable(p)
    b = cp.Variable() if fit_intercept else 0.0
    fit = cp.sum(cp.multiply(w, cp.square(y - b - X @ beta))) / (2 * w.sum())
    constraints = []
    if kind == "lasso":
        penalty = lam1 * cp.norm1(beta)
    elif kind == "elastic_net":
        penalty = lam1 * cp.norm1(beta) + lam2 / 2 * cp.sum_squares(beta)
    elif kind == "fused_lasso":
        penalty = lam1 * cp.norm1(beta) + lam2 * cp.norm1(cp.diff(beta))
    else:
        penalty = 0.0
        if p > 1:
            constraints = [cp.norm1(cp.diff(beta)) <= lam1]
    cp.Problem(cp.Minimize(fit + penalty), constraints).solve(
        solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
    )
    intercept = float(b.value) if fit_intercept else 0.0
    return np.asarray(beta.value), intercept


def solve(kind: str, X: torch.Tensor, y: torch.Tensor, lam1: Any, lam2: Any, **kw: Any):
    """Our solver of one kind; for the constrained form lam1 is the bound."""
    if kind == "lasso":
        return lasso(X, y, lam1, **kw)
    if kind == "elastic_net":
        return elastic_net(X, y, lam1, lam2, **kw)
    if kind == "fused_lasso":
        return fused_lasso(X, y, lam1, lam2, **kw)
    return fused_lasso_constrained(X, y, lam1, **kw)


def assert_matches_cvxpy(
    kind: str,
    X: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    lam1: torch.Tensor,
    lam2: torch.Tensor,
    result: SolverResult,
    fit_intercept: bool = True,
) -> None:
    """Each problem's objective within REL_OBJECTIVE of cvxpy's, same evaluation."""
    for i in range(X.shape[0]):
        Xi, yi, wi = X[i].numpy(), y[i].numpy(), w[i].numpy()
        l1, l2 = float(lam1[i]), float(lam2[i])
        ref_coef, ref_b = cvxpy_solution(Xi, yi, wi, kind, l1, l2, fit_intercept)
        ours = objective(
            Xi, yi, wi, result.coef[i].numpy(), float(result.intercept[i]), kind, l1, l2
        )
        ref = objective(Xi, yi, wi, ref_coef, ref_b, kind, l1, l2)
        assert abs(ours - ref) <= REL_OBJECTIVE * max(abs(ref), 1e-12), (i, ours, ref)
        assert abs(float(result.objective[i]) - ours) <= 1e-9 * max(abs(ours), 1.0)
        if kind == "constrained":
            tv = float(np.abs(np.diff(result.coef[i].numpy())).sum())
            assert tv <= l1 * (1 + 1e-9) + 1e-12


def planted(
    B: int, n: int, p: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Designs, targets from blocky sparse coefficients, and random weights."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, n, p, generator=g, dtype=torch.float64)
    coef = torch.zeros(B, p, dtype=torch.float64)
    coef[:, p // 4 : p // 2] = 1.0
    noise = 0.3 * torch.randn(B, n, generator=g, dtype=torch.float64)
    y = torch.einsum("bnp,bp->bn", X, coef) + 0.5 + noise
    w = 0.1 + 2 * torch.rand(B, n, generator=g, dtype=torch.float64)
    return X, y, w


def keep_masks(
    B: int, n: int, p: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LIME/LEMNA designs: each sample switches off a uniform number of features."""
    g = torch.Generator().manual_seed(seed)
    off = torch.randint(1, p + 1, (B, n, 1), generator=g)
    rank = torch.rand(B, n, p, generator=g).argsort(-1).argsort(-1)
    X = (rank >= off).to(torch.float64)
    coef = torch.zeros(B, p, dtype=torch.float64)
    coef[:, p // 3 : p // 2] = 0.4
    y = torch.sigmoid(torch.einsum("bnp,bp->bn", X, coef) - 1)
    y = y + 0.02 * torch.randn(B, n, generator=g, dtype=torch.float64)
    w = torch.rand(B, n, generator=g, dtype=torch.float64)
    return X, y, w


def strengths(
    kind: str, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, fractions: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """lam1 (or the bound) and lam2 per problem for one kind."""
    top = lambda_max(X, y, weights=w)
    lam1 = top * torch.tensor(fractions, dtype=X.dtype)
    if kind == "constrained":
        return torch.tensor(fractions, dtype=X.dtype) * 4, torch.zeros_like(top)
    return lam1, 2 * lam1


# ------------------------------------------------------------- random problems
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_random_problems_match_cvxpy(kind: str, fit_intercept: bool) -> None:
    X, y, w = planted(4, 40, 12)
    lam1, lam2 = strengths(kind, X, y, w, [0.01, 0.05, 0.2, 0.5])
    result = solve(kind, X, y, lam1, lam2, weights=w, fit_intercept=fit_intercept)
    assert bool(result.converged.all())
    assert_matches_cvxpy(kind, X, y, w, lam1, lam2, result, fit_intercept)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_keep_mask_designs_match_cvxpy(kind: str, fit_intercept: bool) -> None:
    # these designs take the rank-one metric path of the FISTA loop (most of them)
    X, y, w = keep_masks(3, 60, 15)
    moments = weighted_moments(X, y, w, fit_intercept)
    _, beta = Quadratic.from_data(X, y, moments).metric()
    assert bool((beta > 0).any())
    lam1, lam2 = strengths(kind, X, y, w, [0.003, 0.03, 0.3])
    result = solve(kind, X, y, lam1, lam2, weights=w, fit_intercept=fit_intercept)
    assert bool(result.converged.all())
    assert_matches_cvxpy(kind, X, y, w, lam1, lam2, result, fit_intercept)


@pytest.mark.parametrize("penalty", ["l1", "enet", "fused", "ball"])
def test_prox_in_the_shifted_metric_matches_cvxpy(penalty: str) -> None:
    # argmin pen(x) + 1/(2 step) (||x - v||^2 + shift * p * mean(x - v)^2)
    B, p = 4, 12
    v = 2 * torch.randn(B, p, dtype=torch.float64)
    step = torch.tensor([0.5, 1.0, 2.0, 0.1], dtype=torch.float64)
    shift = torch.tensor([0.0, 3.0, 40.0, 1000.0], dtype=torch.float64)
    lam1 = torch.tensor([0.3, 1.0, 0.05, 0.5], dtype=torch.float64)
    lam2 = torch.tensor([0.2, 0.4, 1.0, 0.01], dtype=torch.float64)
    made = {
        "l1": L1(lam1),
        "enet": ElasticNetPenalty(lam1, lam2),
        "fused": FusedL1(lam1, lam2),
        "ball": TVBall(4 * lam2),
    }[penalty]
    ours, _ = made.prox(v, step, shift, None)
    for i in range(B):
        x = cp.Variable(p)
        vi, l1, l2 = v[i].numpy(), float(lam1[i]), float(lam2[i])
        gap = cp.sum_squares(x - vi) + float(shift[i]) * cp.square(cp.sum(x - vi)) / p
        constraints = []
        if penalty == "l1":
            pen = l1 * cp.norm1(x)
        elif penalty == "enet":
            pen = l1 * cp.norm1(x) + l2 / 2 * cp.sum_squares(x)
        elif penalty == "fused":
            pen = l1 * cp.norm1(x) + l2 * cp.norm1(cp.diff(x))
        else:
            pen, constraints = 0.0, [cp.norm1(cp.diff(x)) <= 4 * l2]
        cp.Problem(cp.Minimize(pen + gap / (2 * float(step[i]))), constraints).solve(
            solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
        )
        np.testing.assert_allclose(ours[i].numpy(), x.value, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_more_features_than_samples(kind: str) -> None:
    X, y, w = planted(3, 10, 25, seed=1)
    lam1, lam2 = strengths(kind, X, y, w, [0.05, 0.2, 0.6])
    result = solve(kind, X, y, lam1, lam2, weights=w, max_iter=50_000)
    assert_matches_cvxpy(kind, X, y, w, lam1, lam2, result)


@pytest.mark.parametrize("kind", KINDS)
def test_collinear_columns(kind: str) -> None:
    X, y, w = planted(3, 30, 10, seed=2)
    X[:, :, 5] = X[:, :, 4]
    X[:, :, 7] = -2 * X[:, :, 4] + X[:, :, 1]
    lam1, lam2 = strengths(kind, X, y, w, [0.02, 0.1, 0.4])
    result = solve(kind, X, y, lam1, lam2, weights=w, max_iter=50_000)
    assert_matches_cvxpy(kind, X, y, w, lam1, lam2, result)


@pytest.mark.parametrize("kind", KINDS)
def test_all_zero_design_gives_zero_coefficients_and_the_mean(kind: str) -> None:
    X = torch.zeros(2, 15, 6, dtype=torch.float64)
    y = torch.randn(2, 15, dtype=torch.float64)
    w = torch.rand(2, 15, dtype=torch.float64) + 0.1
    result = solve(kind, X, y, torch.tensor([0.1, 0.0]).double(), 0.1, weights=w)
    assert torch.equal(result.coef, torch.zeros_like(result.coef))
    torch.testing.assert_close(result.intercept, (w * y).sum(1) / w.sum(1))
    assert_matches_cvxpy(
        kind, X, y, w, torch.tensor([0.1, 0.0]), torch.tensor([0.1, 0.1]), result
    )


@pytest.mark.parametrize("kind", KINDS)
def test_one_sample(kind: str) -> None:
    X = torch.randn(2, 1, 5, dtype=torch.float64)
    y = torch.randn(2, 1, dtype=torch.float64)
    w = torch.ones(2, 1, dtype=torch.float64)
    # with an intercept one sample is fitted exactly by it alone
    result = solve(kind, X, y, 0.1, 0.1, weights=w)
    assert torch.equal(result.coef, torch.zeros_like(result.coef))
    torch.testing.assert_close(result.intercept, y[:, 0])
    lam = torch.full((2,), 0.1, dtype=torch.float64)
    bounded = solve(kind, X, y, lam, lam, weights=w, fit_intercept=False)
    assert_matches_cvxpy(kind, X, y, w, lam, lam, bounded, fit_intercept=False)


@pytest.mark.parametrize("kind", ["lasso", "elastic_net", "fused_lasso"])
def test_at_or_above_lambda_max_the_solution_is_zero(kind: str) -> None:
    X, y, w = planted(3, 30, 8, seed=3)
    top = lambda_max(X, y, weights=w)
    above = solve(
        kind, X, y, top * torch.tensor([1.0, 1.5, 10.0]).double(), 0.3, weights=w
    )
    assert torch.equal(above.coef, torch.zeros_like(above.coef))
    below = solve(kind, X, y, 0.99 * top, 0.0, weights=w)
    assert bool((below.coef.abs().sum(1) > 0).all())
    lam1, lam2 = top * 1.5, torch.full((3,), 0.3, dtype=torch.float64)
    assert_matches_cvxpy(kind, X, y, w, lam1, lam2, above)


def test_zero_bound_gives_constant_coefficients() -> None:
    X, y, w = planted(2, 30, 8, seed=4)
    result = fused_lasso_constrained(X, y, 0.0, weights=w)
    spread = result.coef.amax(1) - result.coef.amin(1)
    assert bool((spread <= 1e-12).all())
    zeros = torch.zeros(2, dtype=torch.float64)
    assert_matches_cvxpy("constrained", X, y, w, zeros, zeros, result)


def test_lambda_max_matches_the_formula() -> None:
    X, y, w = planted(3, 20, 6, seed=5)
    for fit_intercept in (True, False):
        ours = lambda_max(X, y, weights=w, fit_intercept=fit_intercept)
        for i in range(3):
            Xi, yi, wi = X[i].numpy(), y[i].numpy(), w[i].numpy() / w[i].sum().item()
            if fit_intercept:
                Xi = Xi - wi @ Xi
                yi = yi - wi @ yi
            expected = np.abs(Xi.T @ (wi * yi)).max()
            assert float(ours[i]) == pytest.approx(expected, rel=1e-12)


def test_lam1_fraction_equals_the_absolute_strength() -> None:
    X, y, w = planted(3, 30, 8, seed=6)
    top = lambda_max(X, y, weights=w)
    by_fraction = fused_lasso(X, y, None, 0.05, lam1_fraction=0.1, weights=w)
    absolute = fused_lasso(X, y, 0.1 * top, 0.05, weights=w)
    torch.testing.assert_close(by_fraction.coef, absolute.coef)


# --------------------------------------------------------------- scikit-learn
def test_lasso_matches_scikit_learn() -> None:
    X, y, w = planted(3, 50, 10, seed=7)
    lam1 = lambda_max(X, y, weights=w) * torch.tensor([0.02, 0.1, 0.4]).double()
    result = lasso(X, y, lam1, weights=w)
    for i in range(3):
        Xi, yi, wi = X[i].numpy(), y[i].numpy(), w[i].numpy()
        model = linear_model.Lasso(alpha=float(lam1[i]), tol=1e-12, max_iter=100_000)
        model.fit(Xi, yi, sample_weight=wi)
        args = ("lasso", float(lam1[i]), 0.0)
        ref = objective(Xi, yi, wi, model.coef_, model.intercept_, *args)
        ours = objective(
            Xi, yi, wi, result.coef[i].numpy(), float(result.intercept[i]), *args
        )
        assert abs(ours - ref) <= REL_OBJECTIVE * ref


def test_elastic_net_matches_scikit_learn() -> None:
    X, y, w = planted(3, 50, 10, seed=8)
    lam1 = lambda_max(X, y, weights=w) * torch.tensor([0.02, 0.1, 0.4]).double()
    lam2 = torch.tensor([0.5, 0.1, 2.0], dtype=torch.float64)
    result = elastic_net(X, y, lam1, lam2, weights=w)
    for i in range(3):
        Xi, yi, wi = X[i].numpy(), y[i].numpy(), w[i].numpy()
        alpha = float(lam1[i] + lam2[i])
        model = linear_model.ElasticNet(
            alpha=alpha, l1_ratio=float(lam1[i]) / alpha, tol=1e-12, max_iter=100_000
        )
        model.fit(Xi, yi, sample_weight=wi)
        args = ("elastic_net", float(lam1[i]), float(lam2[i]))
        ref = objective(Xi, yi, wi, model.coef_, model.intercept_, *args)
        ours = objective(
            Xi, yi, wi, result.coef[i].numpy(), float(result.intercept[i]), *args
        )
        assert abs(ours - ref) <= REL_OBJECTIVE * ref


# ------------------------------------------------------------ batch behaviour
@pytest.mark.parametrize("kind", KINDS)
def test_batched_equals_one_at_a_time(kind: str) -> None:
    X, y, w = planted(5, 30, 9, seed=9)
    lam1, lam2 = strengths(kind, X, y, w, [0.01, 0.03, 0.1, 0.3, 0.9])
    batched = solve(kind, X, y, lam1, lam2, weights=w, tol=1e-10)
    for i in range(5):
        single = solve(kind, X[i], y[i], lam1[i], lam2[i], weights=w[i], tol=1e-10)
        assert single.coef.shape == (9,) and single.intercept.dim() == 0
        torch.testing.assert_close(single.coef, batched.coef[i], atol=1e-7, rtol=0)
        torch.testing.assert_close(
            single.intercept, batched.intercept[i], atol=1e-7, rtol=0
        )


def test_each_problem_stops_on_its_own_tolerance() -> None:
    X, y, w = planted(2, 40, 12, seed=10)
    X = X.repeat(2, 1, 1)[:2]
    y, w = y[[0, 0]], w[[0, 0]]
    tol = torch.tensor([1e-3, 1e-10], dtype=torch.float64)
    result = fused_lasso(X, y, 0.01, 0.02, weights=w, tol=tol)
    assert int(result.n_iter[0]) < int(result.n_iter[1])
    assert bool((result.optimality <= tol).all())


def test_warm_start_from_the_solution_stops_at_once() -> None:
    X, y, w = planted(4, 40, 15, seed=11)
    cold = fused_lasso(X, y, 0.01, 0.03, weights=w, tol=1e-9)
    warm = fused_lasso(X, y, 0.01, 0.03, weights=w, tol=1e-9, init=cold.coef)
    assert bool((warm.n_iter <= 3).all())
    torch.testing.assert_close(warm.coef, cold.coef, atol=1e-8, rtol=0)
    nearby = fused_lasso(X, y, 0.011, 0.03, weights=w, tol=1e-9, init=cold.coef)
    again = fused_lasso(X, y, 0.011, 0.03, weights=w, tol=1e-9)
    assert int(nearby.n_iter.sum()) < int(again.n_iter.sum())


def test_float32_gives_the_float64_objective() -> None:
    X, y, w = planted(4, 40, 12, seed=12)
    lam1, lam2 = strengths("fused_lasso", X, y, w, [0.01, 0.05, 0.2, 0.5])
    double = fused_lasso(X, y, lam1, lam2, weights=w)
    single = fused_lasso(
        X.float(), y.float(), lam1.float(), lam2.float(), weights=w.float()
    )
    assert (
        single.coef.dtype == torch.float32 and single.objective.dtype == torch.float32
    )
    assert bool(single.converged.all())
    for i in range(4):
        args = ("fused_lasso", float(lam1[i]), float(lam2[i]))
        Xi, yi, wi = X[i].numpy(), y[i].numpy(), w[i].numpy()
        ours = objective(
            Xi,
            yi,
            wi,
            single.coef[i].double().numpy(),
            float(single.intercept[i]),
            *args,
        )
        assert abs(ours - float(double.objective[i])) <= 1e-5 * float(
            double.objective[i]
        )


def test_float32_on_keep_masks_converges_without_warnings() -> None:
    # the float32 rounding floor of the optimality measure is below the used tol
    X, y, w = keep_masks(6, 120, 60, seed=15)
    top = lambda_max(X, y, weights=w)
    lam1, lam2 = 0.001 * top, 0.01 * top
    double = fused_lasso(X, y, lam1, lam2, weights=w)
    single = fused_lasso(
        X.float(), y.float(), lam1.float(), lam2.float(), weights=w.float()
    )
    assert bool(single.converged.all())
    for i in range(6):
        args = ("fused_lasso", float(lam1[i]), float(lam2[i]))
        Xi, yi, wi = X[i].numpy(), y[i].numpy(), w[i].numpy()
        coef, b = single.coef[i].double().numpy(), float(single.intercept[i])
        ours = objective(Xi, yi, wi, coef, b, *args)
        assert abs(ours - float(double.objective[i])) <= 1e-5 * float(
            double.objective[i]
        )


def test_rescaling_the_data_rescales_the_solution() -> None:
    # X -> a X, y -> b y, same penalties: beta -> (b / a) beta, same iterations
    X, y, w = keep_masks(4, 80, 20, seed=16)
    base = fused_lasso(X, y, 0.001, 0.01, weights=w)
    scaled = fused_lasso(1e3 * X, 1e-3 * y, 0.001, 0.01, weights=w)
    assert torch.equal(base.n_iter, scaled.n_iter)
    torch.testing.assert_close(scaled.coef * 1e6, base.coef, atol=1e-10, rtol=1e-8)


def test_history_ends_at_the_objective() -> None:
    X, y, w = planted(3, 30, 10, seed=13)
    result = fused_lasso(X, y, 0.01, 0.02, weights=w, return_history=True)
    assert result.history is not None
    assert result.history.shape == (int(result.n_iter.max()), 3)
    for i in range(3):
        last = result.history[int(result.n_iter[i]) - 1, i]
        assert float(last) == pytest.approx(float(result.objective[i]), rel=1e-9)
        assert bool(torch.isnan(result.history[int(result.n_iter[i]) :, i]).all())


def test_non_convergence_warns_with_the_numbers() -> None:
    X, y, w = planted(2, 40, 12, seed=14)
    with pytest.warns(
        ConvergenceWarning, match=r"2 of 2 problems did not reach tol=1e-06"
    ):
        result = fused_lasso(X, y, 0.001, 0.001, weights=w, max_iter=2)
    assert not bool(result.converged.any())
    assert bool((result.n_iter == 2).all())
    with pytest.warns(
        ConvergenceWarning, match=r"max_iter=2 iterations \(worst optimality"
    ):
        lasso(X, y, 0.001, max_iter=2)


# ------------------------------------------------------------------ bad input
def _good() -> dict[str, Any]:
    X, y, w = planted(2, 10, 4)
    return {"X": X, "y": y, "lam1": 0.1, "lam2": 0.1, "weights": w}


def _with(**changes: Any) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        args = _good()
        for key, value in changes.items():
            args[key] = value(args) if callable(value) else value
        return args

    return make


def _nan(key: str) -> Callable[[dict[str, Any]], torch.Tensor]:
    def put(args: dict[str, Any]) -> torch.Tensor:
        t = args[key].clone()
        t.view(-1)[0] = float("nan")
        return t

    return put


BAD_INPUTS = [
    (_with(X=_nan("X")), "X contains 1 NaN or inf"),
    (_with(y=_nan("y")), "y contains 1 NaN or inf"),
    (_with(weights=lambda a: a["weights"] * float("inf")), "weights contains"),
    (_with(weights=lambda a: -a["weights"]), "weights must be non-negative"),
    (_with(weights=lambda a: a["weights"] * 0), "all-zero weights"),
    (_with(y=lambda a: a["y"][:, :-1]), r"y must have shape \(2, 10\)"),
    (_with(weights=lambda a: a["weights"][0]), r"weights must have shape \(2, 10\)"),
    (_with(X=lambda a: a["X"][0, 0]), "X must be a float32 or float64 tensor"),
    (_with(X=lambda a: a["X"].long()), "X must be a float32 or float64 tensor"),
    (_with(X=lambda a: a["X"].numpy()), "X must be a torch.Tensor"),
    (_with(lam1=-0.1), "lam1 must be non-negative"),
    (_with(lam2=float("nan")), "lam2 must be finite"),
    (_with(lam1=torch.ones(3)), r"lam1 must be a float or a tensor of shape \(2,\)"),
    (_with(lam1=None), "give exactly one of lam1"),
    (_with(tol=0.0), "tol must be finite and positive"),
    (_with(max_iter=0), "max_iter must be a positive int"),
    (_with(init=torch.zeros(2, 5)), r"init must have shape \(2, 4\)"),
]


@pytest.mark.parametrize(("make", "match"), BAD_INPUTS)
def test_bad_input_raises_a_clear_error(make: Callable[[], dict], match: str) -> None:
    args = make()
    X, y, lam1, lam2 = args.pop("X"), args.pop("y"), args.pop("lam1"), args.pop("lam2")
    with pytest.raises(InvalidInputError, match=match):
        fused_lasso(X, y, lam1, lam2, **args)


def test_other_entry_points_check_their_arguments() -> None:
    args = _good()
    X, y = args["X"], args["y"]
    with pytest.raises(InvalidInputError, match="give exactly one of lam1"):
        lasso(X, y, 0.1, lam1_fraction=0.5)
    with pytest.raises(InvalidInputError, match="bound must be non-negative"):
        fused_lasso_constrained(X, y, -1.0)
    with pytest.raises(InvalidInputError, match="lam2 must be non-negative"):
        elastic_net(X, y, 0.1, -0.5)
    with pytest.raises(InvalidInputError, match=r"y must have shape \(2, 10\)"):
        lambda_max(X, y[0])
