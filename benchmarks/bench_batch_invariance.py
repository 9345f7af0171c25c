"""How far the batch moves an explanation, and what ``batch_invariant=True`` costs.

Usage::

    python benchmarks/bench_batch_invariance.py --n-inputs 16 --out results/inv.json
    # a smoke run:
    python benchmarks/bench_batch_invariance.py --n-inputs 2 --n-samples 150 \\
        --methods lime --out smoke.json

The first ``--n-inputs`` malicious contagio rows (binarized) are explained with the
PDF malware MLP, target class 1, once all in one call and once one input per call,
with the same seed; this is done without and with the batch-invariant mode
(:mod:`torchxai.batched`). For each method and mode the script prints the largest
difference between an input's scores in the batch and alone, relative to the
largest absolute score of that input, the share of inputs whose top-k feature set is
the same both ways, and the seconds per explanation of the batched call. The mode
must give a difference of exactly 0; the ratio of the two batched timings is its
cost. It writes the figures to ``--out`` as JSON (atomically).
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

import torchxai
from torchxai.datasets import binarize, load_contagio
from torchxai.io import write_json
from torchxai.models import load_pdf_mlp


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-inputs", type=int, default=16, help="inputs explained")
    parser.add_argument("--methods", default="lemna,lime")
    parser.add_argument("--n-samples", type=int, default=500, help="perturbations")
    parser.add_argument("--k", type=int, default=5, help="top-k compared")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="results/bench_batch_invariance.json")
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    if args.n_inputs < 1 or args.k < 1:
        parser.error("--n-inputs and --k must be at least 1")
    return args


def compare(together: Tensor, alone: Tensor, k: int) -> dict[str, float]:
    """Largest relative difference and top-k agreement of (N, p) score tensors."""
    scale = alone.abs().amax(dim=1).clamp_min(torch.finfo(alone.dtype).tiny)
    relative = ((together - alone).abs().amax(dim=1) / scale).max()
    k = min(k, alone.shape[1])
    tops = [s.argsort(dim=1, descending=True)[:, :k].sort(dim=1).values for s in
            (together, alone)]  # fmt: skip
    return {
        "max_relative_difference": float(relative),
        "bit_identical": bool(torch.equal(together, alone)),
        "same_top_k_share": float((tops[0] == tops[1]).all(dim=1).float().mean()),
    }


def measure(
    model: torch.nn.Module, x: Tensor, method: str, invariant: bool, args: Any
) -> dict[str, Any]:
    """Explain ``x`` in one call and one input per call; compare and time."""
    options = {
        "target": 1,
        "output": "logits",
        "seed": args.seed,
        "n_samples": args.n_samples,
        "batch_invariant": invariant,
    }
    start = time.perf_counter()
    together = torchxai.explain(model, x, method, **options).scores
    seconds = (time.perf_counter() - start) / x.shape[0]
    alone = torch.cat(
        [
            torchxai.explain(model, x[i : i + 1], method, **options).scores
            for i in range(x.shape[0])
        ]  # fmt: skip
    )
    row = {"method": method, "batch_invariant": invariant}
    row.update(compare(together.flatten(1), alone.flatten(1), args.k))
    row["seconds_per_explanation"] = seconds
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All methods, both modes; returns the JSON record."""
    device = torch.device(args.device)
    model = load_pdf_mlp(data_dir=args.data_dir, device=device)
    data = load_contagio(args.data_dir)
    x = binarize(data.features[data.labels == 1][: args.n_inputs]).to(device)
    rows = []
    print(
        f"PDF MLP, {x.shape[0]} malicious rows, {args.n_samples} samples, device "
        f"{device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"{'method':<8}{'mode':<11}{'max rel. diff':>15}{'identical':>11}"
          f"{'same top-' + str(args.k):>12}{'s / expl.':>11}")  # fmt: skip
    for method in args.methods:
        for invariant in (False, True):
            row = measure(model, x, method, invariant, args)
            rows.append(row)
            mode = "invariant" if invariant else "default"
            print(
                f"{method:<8}{mode:<11}{row['max_relative_difference']:>15.2e}"
                f"{str(row['bit_identical']):>11}{row['same_top_k_share']:>12.3f}"
                f"{row['seconds_per_explanation']:>11.4f}"
            )
        default, invariant_row = rows[-2], rows[-1]
        cost = invariant_row["seconds_per_explanation"] / max(
            default["seconds_per_explanation"], 1e-12
        )
        invariant_row["cost_ratio"] = cost
        print(f"{method}: batch_invariant=True takes {cost:.2f}x the default's time")
    return {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "n_inputs": int(x.shape[0]),
        "rows": rows,
        "options": vars(args),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = run(args)
    write_json(Path(args.out), record)
    print(f"JSON written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
