"""The exact TV prox and the TV-ball projection against brute-force references."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
import torch

from torchxai.errors import InvalidInputError
from torchxai.solvers import tv_prox
from torchxai.solvers.tv_ball import project_tv_ball, total_variation

cp = pytest.importorskip("cvxpy")
# the package re-exports the function under the module's name
tv_module = sys.modules["torchxai.solvers.tv_prox"]


def brute_force_prox(v: np.ndarray, lam: float) -> np.ndarray:
    """Enumerate every active set of the dual box QP and keep the one meeting KKT.

    Each ``u_j`` of the dual ``min 1/2 ||v - D^T u||^2, |u| <= lam`` is either at
    ``-lam``, at ``+lam`` or free (then ``x_j = x_{j+1}``); for a guess the primal is
    constant on the runs between fixed positions, with the run's level fixed by the
    boundary duals. The guess that is dual feasible and has jumps of the right sign
    is the solution.
    """
    p = v.size
    if p == 1:
        return v.copy()
    for pattern in itertools.product((-1, 0, 1), repeat=p - 1):
        x = np.empty(p)
        start, left = 0, 0.0
        for j in range(p):
            if j == p - 1 or pattern[j] != 0:
                right = 0.0 if j == p - 1 else lam * pattern[j]
                x[start : j + 1] = (v[start : j + 1].sum() + right - left) / (
                    j + 1 - start
                )
                start, left = j + 1, right
        u = np.cumsum(x - v)[:-1]
        jumps = np.diff(x)
        scale = 1e-9 * (1 + np.abs(v).max())
        fixed = np.array(pattern) != 0
        feasible = np.all(np.abs(u[~fixed]) <= lam + scale)
        signs = np.all(np.array(pattern)[fixed] * jumps[fixed] >= -scale)
        if feasible and signs:
            return x
    raise AssertionError("no active set satisfies the KKT conditions")


def cvxpy_prox(v: np.ndarray, lam: float) -> np.ndarray:
    """The prox as a QP solved by Clarabel at tight tolerances."""
    x = cp.Variable(v.size)
    objective = 0.5 * cp.sum_squares(x - v) + lam * cp.norm1(cp.diff(x))
    cp.Problem(cp.Minimize(objective)).solve(
        solver="CLARABEL", tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14
    )
    return np.asarray(x.value)


def signals(rows: int, p: int, kind: str) -> torch.Tensor:
    """Test signals: Gaussian, random walks, ties (small integers), blocks."""
    if kind == "gauss":
        return torch.randn(rows, p, dtype=torch.float64)
    if kind == "walk":
        return torch.randn(rows, p, dtype=torch.float64).cumsum(1)
    if kind == "ties":
        return torch.randint(0, 3, (rows, p)).to(torch.float64)
    blocks = torch.randn(rows, (p + 4) // 5, dtype=torch.float64)
    noise = 0.1 * torch.randn(rows, p, dtype=torch.float64)
    return blocks.repeat_interleave(5, 1)[:, :p] + noise


@pytest.mark.parametrize("kind", ["gauss", "walk", "ties", "blocks"])
def test_matches_brute_force_on_small_inputs(kind: str) -> None:
    for p in (1, 2, 3, 5, 7):
        v = signals(12, p, kind)
        lam = torch.rand(12, dtype=torch.float64) ** 2 * 3
        ours = tv_prox(v, lam)
        for i in range(12):
            reference = brute_force_prox(v[i].numpy(), float(lam[i]))
            np.testing.assert_allclose(ours[i].numpy(), reference, atol=1e-10, rtol=0)


def prox_objective(x: np.ndarray, v: np.ndarray, lam: float) -> float:
    """The objective the prox minimizes."""
    return float(0.5 * np.sum((x - v) ** 2) + lam * np.abs(np.diff(x)).sum())


@pytest.mark.parametrize("kind", ["gauss", "walk", "ties", "blocks"])
def test_matches_a_qp_solver_on_longer_inputs(kind: str) -> None:
    v = signals(4, 40, kind)
    lam = torch.tensor([0.01, 0.1, 0.5, 2.0], dtype=torch.float64)
    ours = tv_prox(v, lam).numpy()
    # on ties the interior-point answer is only good to ~1e-7; ours is exact there
    # (brute-force test), so compare objectives tightly and points loosely
    atol = 1e-6 if kind == "ties" else 1e-8
    for i in range(4):
        vi, li = v[i].numpy(), float(lam[i])
        reference = cvxpy_prox(vi, li)
        np.testing.assert_allclose(ours[i], reference, atol=atol, rtol=0)
        assert (
            prox_objective(ours[i], vi, li) <= prox_objective(reference, vi, li) + 1e-12
        )


def test_kkt_holds_to_rounding_on_large_batches() -> None:
    # the dual u = cumsum(x - v) must be in the box and equal +-lam at every jump
    for kind in ("gauss", "walk", "ties", "blocks"):
        v = signals(256, 150, kind)
        lam = torch.rand(256, dtype=torch.float64) ** 3 * 5
        x = tv_prox(v, lam)
        u = torch.cumsum(x - v, 1)
        jumps = x[:, 1:] - x[:, :-1]
        lam_c = lam[:, None]
        assert torch.allclose(
            u[:, -1], torch.zeros(256, dtype=torch.float64), atol=1e-9
        )
        assert bool((u[:, :-1].abs() <= lam_c + 1e-9).all())
        moving = jumps.abs() > 1e-9
        at_bound = (u[:, :-1] - lam_c * torch.sign(jumps)).abs() <= 1e-9
        assert bool(at_bound[moving].all())


def test_closed_forms() -> None:
    v = torch.tensor([[3.0, 1.0, 2.0, 6.0]], dtype=torch.float64)
    # zero strength leaves v alone; above the threshold the answer is the mean
    assert torch.equal(tv_prox(v, 0.0), v)
    flat = tv_prox(v, 100.0)
    torch.testing.assert_close(flat, torch.full_like(v, 3.0))
    # two points: they move towards each other by lam until they meet
    pair = torch.tensor([0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(tv_prox(pair, 0.2), torch.tensor([0.2, 0.8]).double())
    torch.testing.assert_close(tv_prox(pair, 0.7), torch.tensor([0.5, 0.5]).double())
    # one point has no variation
    assert torch.equal(tv_prox(torch.tensor([5.0]), 1.0), torch.tensor([5.0]))


def test_leading_dimensions_and_broadcast_strengths() -> None:
    v = torch.randn(3, 4, 9, dtype=torch.float64)
    lam = torch.rand(3, 1, dtype=torch.float64)
    out = tv_prox(v, lam)
    assert out.shape == v.shape
    for i in range(3):
        for j in range(4):
            one = tv_prox(v[i, j], float(lam[i, 0]))
            torch.testing.assert_close(out[i, j], one, atol=1e-14, rtol=0)


def test_float32_close_to_float64() -> None:
    v = signals(64, 60, "walk")
    lam = torch.rand(64, dtype=torch.float64)
    ours = tv_prox(v.float(), lam.float())
    assert ours.dtype == torch.float32
    reference = tv_prox(v, lam)
    assert float((ours.double() - reference).abs().max()) < 1e-5 * float(v.abs().max())


def test_warm_start_and_fallback_agree_with_the_cold_solution() -> None:
    v = signals(64, 50, "blocks")
    lam = torch.rand(64, dtype=torch.float64)
    cold, dual = tv_module.tv_prox_rows(v, lam)
    nudged = v + 1e-3 * torch.randn_like(v)
    warm, _ = tv_module.tv_prox_rows(nudged, lam, dual)
    torch.testing.assert_close(warm, tv_module.tv_prox_rows(nudged, lam)[0])
    # max_iter=0 sends every row to the exact path algorithm
    fallback, fallback_dual = tv_module.tv_prox_rows(v, lam, max_iter=0)
    torch.testing.assert_close(fallback, cold, atol=1e-12, rtol=0)
    torch.testing.assert_close(fallback_dual, dual, atol=1e-10, rtol=0)


def test_projection_onto_the_tv_ball_matches_a_qp_solver() -> None:
    v = signals(6, 30, "walk")
    bound = torch.tensor([0.0, 0.3, 1.0, 3.0, 10.0, 1e3], dtype=torch.float64)
    ours, _ = project_tv_ball(v, bound)
    assert bool((total_variation(ours) <= bound + 1e-9).all())
    for i in range(6):
        x = cp.Variable(30)
        constraint = [cp.norm1(cp.diff(x)) <= float(bound[i])]
        cp.Problem(cp.Minimize(cp.sum_squares(x - v[i].numpy())), constraint).solve(
            solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
        )
        np.testing.assert_allclose(ours[i].numpy(), x.value, atol=1e-6, rtol=0)


def test_projection_warm_start_gives_the_same_point() -> None:
    v = signals(16, 25, "gauss")
    bound = torch.rand(16, dtype=torch.float64) * 3
    first, state = project_tv_ball(v, bound)
    again, _ = project_tv_ball(v + 1e-4, bound, state)
    torch.testing.assert_close(again, first + 1e-4, atol=1e-10, rtol=0)


@pytest.mark.parametrize(
    ("v", "lam", "match"),
    [
        ([1.0, 2.0], 0.1, "torch.Tensor"),
        (torch.tensor([1, 2]), 0.1, "float32 or float64"),
        (torch.tensor([1.0, float("nan")]), 0.1, "NaN"),
        (torch.tensor([1.0, 2.0]), -0.1, "non-negative"),
        (torch.tensor([1.0, 2.0]), float("inf"), "finite"),
        (torch.ones(3, 4), torch.ones(2), "broadcastable"),
    ],
)
def test_bad_input_raises(v: object, lam: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        tv_prox(v, lam)  # type: ignore[arg-type]
