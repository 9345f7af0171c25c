"""Seconds per explanation: torchxai's LEMNA and LIME against captum's Lime, KernelShap.

Usage::

    python benchmarks/bench_explain.py --batches 1,64,1024 --out results/bench.json
    # a smoke run:
    python benchmarks/bench_explain.py --batches 1,2 --n-samples 150 --captum-max 1 \\
        --out smoke.json

Every method explains the same binarized contagio rows of the PDF malware MLP
(``keras/pdf_mlp.h5``, 135 features), each with ``--n-samples`` perturbations and
the predicted class as target, and the clock runs over the whole call, model
queries included. torchxai explains a batch of B inputs in one call
(``torchxai.explain``); captum explains one input per call, so for each batch size
it is timed on the first ``min(B, --captum-max)`` inputs of the batch, and the
seconds per explanation are the total divided by the number of inputs timed.
captum gets its perturbations in one model call (``perturbations_per_eval =
n_samples``), its default interpretable models (Lime: scikit-learn's Lasso, alpha
0.01; KernelShap: linear regression) and baseline 0.

The script prints the table, the device and the ratios to captum's Lime, and
writes them to ``--out`` as JSON (atomically).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import torchxai
from torchxai.datasets import binarize, load_contagio
from torchxai.io import write_json
from torchxai.models import load_pdf_mlp

METHODS = ("lemna", "lime", "captum-lime", "captum-kernelshap")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,64,1024", help="batch sizes")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--n-samples", type=int, default=500, help="perturbations")
    parser.add_argument("--n-components", type=int, default=6, help="LEMNA's K")
    parser.add_argument(
        "--captum-max", type=int, default=8, help="inputs timed per batch for captum"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of batches up to 64 (min)"
    )
    parser.add_argument(
        "--method-options",
        default="{}",
        help='JSON of options of our methods, e.g. \'{"lemna": {"em_iter": 20}}\'',
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="results/bench_explain.json")
    args = parser.parse_args(argv)
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--batches {args.batches!r}: expected comma-separated integers")
    try:
        args.method_options = json.loads(args.method_options)
    except json.JSONDecodeError as err:
        parser.error(f"--method-options is not JSON: {err}")
    if not isinstance(args.method_options, dict):
        parser.error("--method-options: expected {method: {option: value}}")
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        parser.error(f"--methods: unknown {unknown}; choose among {list(METHODS)}")
    for name in ("n_samples", "n_components", "captum_max", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not args.batches or min(args.batches) < 1:
        parser.error("--batches must be positive integers")
    return args


def _inputs(model: nn.Module, args: argparse.Namespace) -> tuple[Tensor, Tensor]:
    """Binarized contagio rows in a seeded order, and the model's predictions."""
    data = load_contagio(args.data_dir)
    order = torch.randperm(
        len(data), generator=torch.Generator().manual_seed(args.seed)
    )
    x = binarize(data.features[order[: max(args.batches)]]).to(args.device)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    return x, predicted


def _ours(
    model: nn.Module, method: str, args: argparse.Namespace
) -> Callable[[Tensor, Tensor], object]:
    options: dict[str, Any] = {"n_samples": args.n_samples, "seed": args.seed}
    if method == "lemna":
        options["n_components"] = args.n_components
    options.update(args.method_options.get(method, {}))

    def run(x: Tensor, target: Tensor) -> object:
        return torchxai.explain(
            model, x, method=method, target=target, output="logits", **options
        )

    return run


def _captum(
    model: nn.Module, method: str, args: argparse.Namespace
) -> Callable[[Tensor, Tensor], object]:
    from captum.attr import KernelShap, Lime

    def probabilities(z: Tensor) -> Tensor:
        return torch.softmax(model(z), dim=-1)

    explainer = (
        Lime(probabilities) if method == "captum-lime" else KernelShap(probabilities)
    )

    def run(x: Tensor, target: Tensor) -> object:
        return [
            explainer.attribute(
                x[i : i + 1],
                baselines=0.0,
                target=int(target[i]),
                n_samples=args.n_samples,
                perturbations_per_eval=args.n_samples,
            )
            for i in range(x.shape[0])
        ]

    return run


def _time(
    run: Callable[[Tensor, Tensor], object], x: Tensor, t: Tensor, n: int
) -> float:
    """The fastest of ``n`` runs, in seconds."""
    best = float("inf")
    for _ in range(n):
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        start = time.perf_counter()
        run(x, t)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        best = min(best, time.perf_counter() - start)
    return best


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Time every method at every batch size."""
    model = load_pdf_mlp(data_dir=args.data_dir, device=args.device)
    x, predicted = _inputs(model, args)
    rows = []
    for method in args.methods:
        is_captum = method.startswith("captum")
        run = _captum(model, method, args) if is_captum else _ours(model, method, args)
        run(x[:1], predicted[:1])  # warm-up
        for batch in args.batches:
            timed = min(batch, args.captum_max) if is_captum else batch
            repeats = args.repeats if timed <= 64 else 1
            seconds = _time(run, x[:timed], predicted[:timed], repeats)
            rows.append(
                {
                    "method": method,
                    "batch": batch,
                    "inputs_timed": timed,
                    "repeats": repeats,
                    "seconds": seconds,
                    "seconds_per_explanation": seconds / timed,
                }
            )
            print(
                f"{method:<18} batch {batch:>5}: {seconds / timed:.5f} s per "
                f"explanation ({timed} timed, best of {repeats})",
                flush=True,
            )
    return {
        "device": str(x.device),
        "device_name": _device_name(x.device),
        "torch": torch.__version__,
        "captum": _captum_version(),
        "threads": torch.get_num_threads(),
        "model": "PDF malware MLP (keras/pdf_mlp.h5), 135 binary features",
        "n_samples": args.n_samples,
        "n_components": args.n_components,
        "timings": rows,
        "ratios_to_captum_lime": _ratios(rows),
    }


def _ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Seconds per explanation of each method divided by captum Lime's, per batch."""
    per = {(r["method"], r["batch"]): r["seconds_per_explanation"] for r in rows}
    ratios: dict[str, dict[str, float]] = {}
    for (method, batch), value in per.items():
        reference = per.get(("captum-lime", batch))
        if reference and method != "captum-lime":
            ratios.setdefault(method, {})[str(batch)] = value / reference
    return ratios


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def _captum_version() -> str | None:
    try:
        import captum
    except ImportError:
        return None
    return str(captum.__version__)


def format_results(result: dict[str, Any], batches: list[int]) -> str:
    """The comparison table: seconds per explanation, then ratios to captum Lime."""
    per = {
        (r["method"], r["batch"]): r["seconds_per_explanation"]
        for r in result["timings"]
    }
    methods = list(dict.fromkeys(r["method"] for r in result["timings"]))
    lines = [
        f"device {result['device']} ({result['device_name']}), "
        f"torch {result['torch']}, captum {result['captum']}, "
        f"{result['threads']} threads; "
        f"n_samples {result['n_samples']}, LEMNA K = {result['n_components']}",
        "seconds per explanation:",
        f"{'method':<18}" + "".join(f"{'B=' + str(b):>12}" for b in batches),
    ]
    for m in methods:
        lines.append(f"{m:<18}" + "".join(f"{per[(m, b)]:>12.5f}" for b in batches))
    for m, ratio in result["ratios_to_captum_lime"].items():
        text = ", ".join(f"B={b}: {v:.3f}" for b, v in ratio.items())
        lines.append(f"{m} / captum-lime: {text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the comparison and write the JSON."""
    args = parse_args(argv)
    result = benchmark(args)
    result["config"] = vars(args)
    print(format_results(result, args.batches))
    write_json(Path(args.out), result)
    print(f"JSON written to {args.out}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
