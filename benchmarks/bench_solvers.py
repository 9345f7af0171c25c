"""Seconds per problem: torchxai's batched solvers against cvxpy and scikit-learn.

Usage::

    python benchmarks/bench_solvers.py --batch 1024 --out results/bench_solvers.json
    # a smoke run:
    python benchmarks/bench_solvers.py --batch 4 --sizes 50x20 --cvxpy-problems 2 \\
        --sklearn-problems 2 --out smoke.json

The problems are LEMNA's: for each of ``--sizes`` (``n x p``), B designs of n binary
keep-masks (the first all ones; each other switches off k features, k uniform on
1..p) and targets from a logistic model with a planted block of coefficients plus
noise, weights 1, an intercept. The fused lasso uses LEMNA's default penalties,
``lam1 = 0.001 * lambda_max`` and ``lam2 = 0.01 * lambda_max`` per problem; the
elastic net ``lam1 = 0.01 * lambda_max`` and ``lam2 = 0.01``.

torchxai solves all B problems in one call (best of ``--repeats``; the clock covers
the whole call, Gram matrices included). cvxpy (Clarabel, default tolerances; the
clock covers building and solving each problem) solves the first
``--cvxpy-problems`` of them one by one, scikit-learn's ElasticNet (tol 1e-8) the
first ``--sklearn-problems``. Seconds per problem are each total divided by the
number of problems it solved. Both solutions of every reference problem are scored
by the same numpy objective; the relative gap is ``(ours - reference) / reference``
(negative: torchxai found the lower objective). Process CPU seconds are reported
too, since on a shared machine wall time also counts waiting for a core.

The script prints the table, the device and the ratios, and writes them to
``--out`` as JSON (atomically).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from torchxai.io import write_json
from torchxai.solvers import elastic_net, fused_lasso, lambda_max

FUSED_LAM1, FUSED_LAM2 = 0.001, 0.01
ENET_LAM1, ENET_LAM2 = 0.01, 0.01


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batch", "--problems", default="1024", help="problems per call, e.g. 1,1024"
    )
    parser.add_argument("--sizes", default="501x41,501x200", help="n x p, comma list")
    parser.add_argument("--cvxpy-problems", type=int, default=16)
    parser.add_argument("--sklearn-problems", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="torchxai runs (best)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--tol", type=float, default=1e-6, help="torchxai's tol")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: as is)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/bench_solvers.json")
    args = parser.parse_args(argv)
    try:
        args.batches = [int(b) for b in str(args.batch).split(",") if b.strip()]
        args.shapes = [
            tuple(int(v) for v in size.lower().split("x"))
            for size in args.sizes.split(",")
            if size.strip()
        ]
    except ValueError:
        parser.error("--batch takes integers and --sizes takes NxP items, e.g. 501x41")
    if not args.batches or min(args.batches) < 1:
        parser.error("--batch must list positive integers")
    if any(len(s) != 2 or min(s) < 2 for s in args.shapes):
        parser.error("--sizes items must be NxP with N, P >= 2, e.g. 501x41")
    for name in ("cvxpy_problems", "sklearn_problems", "repeats"):
        if getattr(args, name) < 0 or (name == "repeats" and args.repeats < 1):
            parser.error(f"--{name.replace('_', '-')} must be a non-negative integer")
    return args


def lemna_problems(
    batch: int, n: int, p: int, seed: int, dtype: torch.dtype, device: str
) -> tuple[Tensor, Tensor]:
    """LEMNA-like designs (B, n, p) and targets (B, n), seeded."""
    g = torch.Generator().manual_seed(seed)
    n_off = torch.randint(1, p + 1, (batch, n - 1, 1), generator=g)
    rank = torch.rand(batch, n - 1, p, generator=g).argsort(-1).argsort(-1)
    keep = torch.cat([torch.ones(batch, 1, p, dtype=torch.bool), rank >= n_off], 1)
    X = keep.to(torch.float64)
    coef = torch.zeros(batch, p, dtype=torch.float64)
    start = torch.randint(0, max(1, p - p // 5), (batch,), generator=g)
    width = torch.randint(1, max(2, p // 5), (batch,), generator=g)
    height = 3 * torch.randn(batch, generator=g, dtype=torch.float64)
    span = torch.arange(p)
    block = (span >= start[:, None]) & (span < (start + width)[:, None])
    scale = height / width.to(torch.float64).sqrt()
    coef[block] = scale[:, None].expand(-1, p)[block]
    logits = -1 + torch.einsum("bnp,bp->bn", X, coef)
    y = torch.sigmoid(logits) + 0.01 * torch.randn(batch, n, generator=g, dtype=X.dtype)
    return X.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def objective(
    X: np.ndarray, y: np.ndarray, coef: np.ndarray, b: float, lam1: float, lam2: float,
    kind: str,
) -> float:  # fmt: skip
    """The common objective of both solvers, in numpy (weights 1)."""
    fit = float(np.mean((y - b - X @ coef) ** 2) / 2)
    if kind == "fused":
        return fit + lam1 * np.abs(coef).sum() + lam2 * np.abs(np.diff(coef)).sum()
    return fit + lam1 * np.abs(coef).sum() + lam2 / 2 * float(coef @ coef)


def cvxpy_fused(X: np.ndarray, y: np.ndarray, lam1: float, lam2: float) -> Any:
    """One fused lasso through cvxpy; returns (coef, intercept)."""
    import cvxpy as cp

    beta, b = cp.Variable(X.shape[1]), cp.Variable()
    fit = cp.sum_squares(y - b - X @ beta) / (2 * X.shape[0])
    penalty = lam1 * cp.norm1(beta) + lam2 * cp.norm1(cp.diff(beta))
    cp.Problem(cp.Minimize(fit + penalty)).solve(solver="CLARABEL")
    return np.asarray(beta.value), float(b.value)


def sklearn_enet(X: np.ndarray, y: np.ndarray, lam1: float, lam2: float) -> Any:
    """One elastic net through scikit-learn; returns (coef, intercept)."""
    from sklearn.linear_model import ElasticNet

    alpha = lam1 + lam2
    model = ElasticNet(alpha=alpha, l1_ratio=lam1 / alpha, tol=1e-8, max_iter=100_000)
    model.fit(X, y)
    return model.coef_, float(model.intercept_)


def clock(run: Callable[[], Any], device: str) -> tuple[Any, float, float]:
    """Result, wall seconds and process CPU seconds of one call."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    synchronize(device)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def synchronize(device: str) -> None:
    """Wait for the GPU, when there is one."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(torch.device(device))


def compare(
    kind: str, X: Tensor, y: Tensor, batch: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Time torchxai on all problems and the reference on its subset."""
    top = lambda_max(X, y)
    if kind == "fused":
        lam1, lam2 = FUSED_LAM1 * top, FUSED_LAM2 * top
        reference_name, count = "cvxpy-clarabel", min(batch, args.cvxpy_problems)

        def ours() -> Any:
            return fused_lasso(X, y, lam1, lam2, tol=args.tol, max_iter=20_000)

        reference: Callable[..., Any] = cvxpy_fused
    else:
        lam1, lam2 = ENET_LAM1 * top, torch.full_like(top, ENET_LAM2)
        reference_name, count = "scikit-learn", min(batch, args.sklearn_problems)

        def ours() -> Any:
            return elastic_net(X, y, lam1, lam2, tol=args.tol, max_iter=20_000)

        reference = sklearn_enet

    runs = [clock(ours, args.device) for _ in range(args.repeats)]
    result, wall, cpu = min(runs, key=lambda run: run[1])
    row: dict[str, Any] = {
        "problem": "fused_lasso" if kind == "fused" else "elastic_net",
        "n": X.shape[1],
        "p": X.shape[2],
        "batch": batch,
        "torchxai_seconds": wall,
        "torchxai_seconds_per_problem": wall / batch,
        "torchxai_cpu_seconds_per_problem": cpu / batch,
        "iterations_mean": float(result.n_iter.double().mean()),
        "iterations_max": int(result.n_iter.max()),
        "converged_fraction": float(result.converged.double().mean()),
        "reference": reference_name,
        "reference_problems": count,
    }
    if count == 0:
        return row

    Xn, yn = X.double().cpu().numpy(), y.double().cpu().numpy()
    l1, l2 = lam1.double().cpu().numpy(), lam2.double().cpu().numpy()
    coef, b = (
        result.coef.double().cpu().numpy(),
        result.intercept.double().cpu().numpy(),
    )
    reference(Xn[0], yn[0], l1[0], l2[0])  # untimed: imports and first-call setup
    gaps, ref_wall, ref_cpu = [], 0.0, 0.0
    for i in range(count):
        solved, w, c = clock(lambda i=i: reference(Xn[i], yn[i], l1[i], l2[i]), "cpu")
        ref_wall, ref_cpu = ref_wall + w, ref_cpu + c
        ref = objective(Xn[i], yn[i], *solved, l1[i], l2[i], kind)
        mine = objective(Xn[i], yn[i], coef[i], b[i], l1[i], l2[i], kind)
        gaps.append((mine - ref) / abs(ref))
    row.update(
        reference_seconds_per_problem=ref_wall / count,
        reference_cpu_seconds_per_problem=ref_cpu / count,
        speedup=(ref_wall / count) / (wall / batch),
        speedup_cpu=(ref_cpu / count) / max(cpu / batch, 1e-12),
        rel_objective_gap_max=float(np.max(gaps)),
        rel_objective_gap_median=float(np.median(gaps)),
        rel_objective_gap_min=float(np.min(gaps)),
    )
    return row


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """All comparisons, with the machine they ran on."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    rows = []
    for n, p in args.shapes:
        for batch in args.batches:
            X, y = lemna_problems(batch, n, p, args.seed, dtype, args.device)
            for kind in ("fused", "enet"):
                rows.append(compare(kind, X, y, batch, args))
    return {
        "device": str(torch.device(args.device)),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "dtype": args.dtype,
        "tol": args.tol,
        "penalties": {
            "fused_lasso": {
                "lam1": f"{FUSED_LAM1} * lambda_max",
                "lam2": f"{FUSED_LAM2} * lambda_max",
            },
            "elastic_net": {"lam1": f"{ENET_LAM1} * lambda_max", "lam2": ENET_LAM2},
        },  # fmt: skip
        "results": rows,
    }


def report(result: dict[str, Any]) -> None:
    """Print the table."""
    print(
        f"device {result['device']}, torch {result['torch']}, "
        f"{result['torch_threads']} threads, {result['dtype']}, "
        f"load average {result['load_average']}"
    )
    print(
        f"{'problem':<12} {'n x p':>8} {'B':>5} {'torchxai s/pb':>13} {'ref s/pb':>10} "
        f"{'ratio':>7} {'cpu ratio':>9} {'gap max':>9} {'iters':>6}  reference"
    )
    for row in result["results"]:
        size = f"{row['n']}x{row['p']}"
        ref = row.get("reference_seconds_per_problem", float("nan"))
        print(
            f"{row['problem']:<12} {size:>8} {row['batch']:>5} "
            f"{row['torchxai_seconds_per_problem']:>13.3e} {ref:>10.3e} "
            f"{row.get('speedup', float('nan')):>6.1f}x "
            f"{row.get('speedup_cpu', float('nan')):>8.1f}x "
            f"{row.get('rel_objective_gap_max', float('nan')):>9.1e} "
            f"{row['iterations_mean']:>6.0f}  {row['reference']} "
            f"({row['reference_problems']} problems)"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print and save; returns the JSON payload."""
    args = parse_args(argv)
    result = benchmark(args)
    report(result)
    write_json(Path(args.out), result)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
