"""DMM fit time and held-out RMSE against the number of inputs and the truncation level.

Usage::

    python benchmarks/bench_dmm.py --sizes 1000,5000,20000 --truncations 3,6 \\
        --gibbs-iterations 2000 --out results/bench_dmm.json
    # a smoke run:
    python benchmarks/bench_dmm.py --sizes 150 --truncations 2 --steps 60 \\
        --gibbs-iterations 20 --held-out 100 --out smoke.json

Data: binarized contagio rows with the PDF malware MLP's malware logit as the
response (as in ``scripts/reproduce_dmm.py``). A seeded set of ``--held-out``
rows (1,000) is kept aside; fits draw their ``n`` rows from the other 8,999, and
sizes above that are drawn with replacement with 1% of the bits flipped (so no two
rows are copies). The clock runs over :meth:`DMMRegression.fit` (hard-EM start and
SVI until the convergence rule stops it, at most ``--steps``). RMSE is between the
sigmoid of the mixture's prediction and the model's malware probability on the
held-out rows: ``rmse_mixture_mean`` uses the mixture mean ``sum_j pi_j x.beta_j``
(the seed's definition), ``rmse_assigned`` each row's most probable component.

Reference: the seed's R Gibbs sampler (``dmm/code/dmm.r``) takes 13 s per 100
iterations on 3,999 x 135 inputs and runs 20,000 iterations, 2,600 s. This figure
is QUOTED from the task, not re-run here (no R). The speed-up printed is
2,600 s divided by the SVI fit time at the smallest size >= 3,999 (more inputs
than the seed had, so the ratio is conservative). For the RMSE side of the
comparison, ``--gibbs-iterations`` runs a torch re-implementation of the seed's
blocked Gibbs sampler (same priors, no intercept, first half burn-in, label-free
posterior-predictive mean) on the same rows; its time is not the R time.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from torchxai.bayes import DMMRegression, class_logit
from torchxai.datasets import binarize, load_contagio
from torchxai.io import write_json
from torchxai.models import load_pdf_mlp

SEED_SECONDS_PER_100_ITERATIONS = 13.0
SEED_ITERATIONS = 20_000
SEED_INPUTS = 3_999
SEED_SECONDS = SEED_SECONDS_PER_100_ITERATIONS * SEED_ITERATIONS / 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--truncations", default="3,6")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--gibbs-iterations", type=int, default=0)
    parser.add_argument("--gibbs-size", type=int, default=SEED_INPUTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="results/bench_dmm.json")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        args.truncations = [int(s) for s in args.truncations.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes and --truncations take comma-separated integers")
    if not args.sizes or min(args.sizes) < 2 or min(args.truncations, default=0) < 1:
        parser.error("--sizes must be >= 2 and --truncations >= 1")
    return args


def make_rows(
    pool: Tensor, n: int, generator: torch.Generator, flip: float = 0.01
) -> Tensor:
    """``n`` rows from ``pool``: a subset, or draws with replacement and bit flips."""
    if n <= pool.shape[0]:
        return pool[torch.randperm(pool.shape[0], generator=generator)[:n]]
    rows = pool[torch.randint(pool.shape[0], (n,), generator=generator)]
    flips = torch.rand(rows.shape, generator=generator) < flip
    return torch.where(flips, 1.0 - rows, rows)


def prob_rmse(prediction: Tensor, response: Tensor) -> float:
    diff = torch.sigmoid(prediction.double()) - torch.sigmoid(response.double())
    return float(diff.square().mean().sqrt())


def bench_svi(
    args: argparse.Namespace,
    X: Tensor,
    y: Tensor,
    X_test: Tensor,
    y_test: Tensor,
    J: int,
) -> dict[str, Any]:
    start = time.perf_counter()
    dmm = DMMRegression(J, steps=args.steps, lr=args.lr, seed=args.seed)
    dmm.fit(X, y)
    if X.is_cuda:
        torch.cuda.synchronize(X.device)
    seconds = time.perf_counter() - start
    return {
        "method": "svi",
        "n": X.shape[0],
        "truncation": J,
        "seconds": seconds,
        "steps": dmm.n_steps_,
        "seconds_per_step": seconds / max(dmm.n_steps_, 1),
        "converged": dmm.converged_,
        "n_components_used": dmm.n_components_used_,
        "rmse_mixture_mean": prob_rmse(dmm.predict(X_test), y_test),
        "rmse_assigned": prob_rmse(dmm.predict(X_test, y_test), y_test),
    }


@torch.no_grad()
def seed_gibbs(
    X: Tensor, y: Tensor, J: int, iterations: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """The seed's blocked Gibbs sampler of the DMM (``dmm.r``), in torch, float64.

    Priors: ``beta_j | sigma2_j ~ N(colMeans(X), 3 sigma2_j I)``, ``sigma2_j ~
    InvGamma(1/2, 1/2)``, ``v_j ~ Beta(1, alpha)``, ``alpha ~ Gamma(5, 1)``; no
    intercept. Draws on the CPU with ``generator``.

    Returns:
        The kept (second-half) draws: weights (T, J) and coefficients (T, J, p).
    """
    X, y = X.double().cpu(), y.double().cpu()
    n, p = X.shape
    a, b, e, f = 0.5, 0.5, 5.0, 1.0
    m = X.mean(0)
    V_inv = torch.eye(p, dtype=torch.float64) / 3.0
    alpha = torch.tensor(e, dtype=torch.float64)

    def gamma(shape: Tensor, rate: Tensor) -> Tensor:
        return torch._standard_gamma(shape.expand(1), generator=generator)[0] / rate

    def beta_draw(c1: Tensor, c0: Tensor) -> Tensor:
        g1 = torch._standard_gamma(c1, generator=generator)
        g0 = torch._standard_gamma(c0, generator=generator)
        return g1 / (g1 + g0)

    ones = torch.ones(J - 1, dtype=torch.float64)
    v = beta_draw(ones, alpha * ones)
    weights = _sticks(v)
    sigma2 = (
        1.0
        / torch._standard_gamma(
            torch.full((J,), a, dtype=torch.float64), generator=generator
        )
        * b
    )
    L = torch.linalg.cholesky(3.0 * torch.eye(p, dtype=torch.float64))
    coef = m + (
        sigma2.sqrt()[:, None]
        * (torch.randn(J, p, generator=generator, dtype=torch.float64) @ L.T)
    )
    kept_w, kept_b = [], []
    for t in range(iterations):
        logits = (
            weights.log()
            - 0.5 * sigma2.log()
            - 0.5 * (y[:, None] - X @ coef.T).square() / sigma2
        )
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64)
        cdf = torch.softmax(logits, dim=1).cumsum(1)
        z = (u > cdf).sum(1).clamp_max(J - 1)
        counts = torch.bincount(z, minlength=J).double()
        later = counts.flip(0).cumsum(0).flip(0) - counts
        v = beta_draw(1.0 + counts[:-1], alpha + later[:-1])
        weights = _sticks(v)
        alpha = gamma(
            torch.tensor(J + e - 1.0, dtype=torch.float64), f - (1 - v).log().sum()
        )
        new_sigma2 = sigma2.clone()
        for j in range(J):
            member = z == j
            if int(counts[j]) == 0:
                noise = torch.randn(p, generator=generator, dtype=torch.float64)
                coef[j] = m + sigma2[j].sqrt() * (L @ noise)
                new_sigma2[j] = (
                    b
                    / torch._standard_gamma(
                        torch.tensor([a], dtype=torch.float64), generator=generator
                    )[0]
                )
                continue
            Xj, yj = X[member], y[member]
            precision = V_inv + Xj.T @ Xj
            cov = torch.linalg.inv(precision)
            mu = cov @ (V_inv @ m + Xj.T @ yj)
            b_star = b + 0.5 * (m @ V_inv @ m + yj @ yj - mu @ precision @ mu)
            chol = torch.linalg.cholesky(cov * sigma2[j])
            coef[j] = mu + chol @ torch.randn(
                p, generator=generator, dtype=torch.float64
            )
            shape = torch.tensor([a + counts[j] / 2], dtype=torch.float64)
            new_sigma2[j] = (
                b_star.clamp_min(1e-12)
                / torch._standard_gamma(shape, generator=generator)[0]
            )
        sigma2 = new_sigma2
        if t >= iterations // 2:
            kept_w.append(weights.clone())
            kept_b.append(coef.clone())
    return torch.stack(kept_w), torch.stack(kept_b)


def _sticks(v: Tensor) -> Tensor:
    ones = torch.ones(1, dtype=v.dtype)
    return torch.cat([v, ones]) * torch.cat([ones, torch.cumprod(1 - v, 0)])


def bench_gibbs(
    args: argparse.Namespace,
    X: Tensor,
    y: Tensor,
    X_test: Tensor,
    y_test: Tensor,
    J: int,
) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    weights, coef = seed_gibbs(X, y, J, args.gibbs_iterations, generator)
    seconds = time.perf_counter() - start
    # posterior-predictive mean, invariant to label switching
    prediction = torch.einsum("tj,tjp,np->n", weights, coef, X_test.double().cpu())
    prediction = prediction / weights.shape[0]
    return {
        "method": "gibbs (seed algorithm, torch)",
        "n": X.shape[0],
        "truncation": J,
        "iterations": args.gibbs_iterations,
        "seconds": seconds,
        "rmse_mixture_mean": prob_rmse(prediction, y_test.cpu()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    model = load_pdf_mlp(data_dir=args.data_dir, device=device)
    data = load_contagio(args.data_dir)
    rows = binarize(data.features)
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(rows.shape[0], generator=generator)
    X_test = rows[order[: args.held_out]].to(device)
    pool = rows[order[args.held_out :]]
    y_test = class_logit(model, X_test, 1)

    timings = []
    print(f"DMM SVI fits, device {device}, {torch.get_num_threads()} threads")
    print(f"{'n':>7}{'J':>4}{'seconds':>10}{'steps':>7}{'s/step':>9}"
          f"{'rmse mean':>11}{'rmse assigned':>15}{'used':>6}")  # fmt: skip
    for n in args.sizes:
        X = make_rows(pool, n, generator).to(device)
        y = class_logit(model, X, 1)
        for J in args.truncations:
            row = bench_svi(args, X, y, X_test, y_test, J)
            timings.append(row)
            print(
                f"{n:>7}{J:>4}{row['seconds']:>10.2f}{row['steps']:>7}"
                f"{row['seconds_per_step']:>9.4f}{row['rmse_mixture_mean']:>11.4f}"
                f"{row['rmse_assigned']:>15.4f}{row['n_components_used']:>6}"
            )
    comparison = compare_to_seed(timings)
    gibbs = []
    if args.gibbs_iterations > 0:
        X = make_rows(pool, args.gibbs_size, torch.Generator().manual_seed(args.seed))
        X = X.to(device)
        y = class_logit(model, X, 1)
        for J in args.truncations:
            svi = bench_svi(args, X, y, X_test, y_test, J)
            ref = bench_gibbs(args, X, y, X_test, y_test, J)
            gibbs.append({"svi": svi, "gibbs": ref})
            print(
                f"n={X.shape[0]} J={J}: SVI rmse {svi['rmse_mixture_mean']:.4f} "
                f"in {svi['seconds']:.1f} s; seed Gibbs ({args.gibbs_iterations} it.) "
                f"rmse {ref['rmse_mixture_mean']:.4f} in {ref['seconds']:.1f} s (torch)"
            )
    return {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "timings": timings,
        "seed_reference": {
            "quoted_not_rerun": True,
            "inputs": SEED_INPUTS,
            "seconds_per_100_iterations": SEED_SECONDS_PER_100_ITERATIONS,
            "iterations": SEED_ITERATIONS,
            "seconds": SEED_SECONDS,
        },
        "speedup_vs_seed": comparison,
        "gibbs_rmse_reference": gibbs,
        "options": {k: v for k, v in vars(args).items()},
    }


def compare_to_seed(timings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seed seconds / SVI seconds at the smallest size >= the seed's 3,999 inputs."""
    sizes = sorted({row["n"] for row in timings if row["n"] >= SEED_INPUTS})
    if not sizes:
        print("no size >= 3,999: no speed-up against the seed's figure")
        return []
    out = []
    for row in timings:
        if row["n"] != sizes[0]:
            continue
        ratio = SEED_SECONDS / row["seconds"]
        out.append({"n": row["n"], "truncation": row["truncation"], "ratio": ratio})
        print(
            f"speed-up vs the seed's quoted {SEED_SECONDS:.0f} s (R Gibbs, "
            f"{SEED_INPUTS} inputs, not re-run): {ratio:.0f}x at n={row['n']}, "
            f"J={row['truncation']}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = run(args)
    write_json(Path(args.out), record)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
