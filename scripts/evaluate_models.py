"""Evaluate the ported target models on their data and write the figures as JSON.

Usage::

    python scripts/evaluate_models.py --out results/evaluation.json
    # a quick smoke run:
    python scripts/evaluate_models.py --max-binaries 2 --max-images 500 --out e.json

Prints accuracy of the PDF MLP (all contagio rows, test split, evasive samples),
of the Fashion-MNIST CNN (test images), and per-byte precision / recall / F1 of both
function-start RNNs (all windows, by-binary test split). See
:mod:`torchxai.evaluation` for what each figure covers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from torchxai.evaluation import evaluate_ported_models
from torchxai.io import write_json


def summary_lines(results: dict[str, Any]) -> list[str]:
    """Human-readable lines of the main figures."""
    pdf, cnn = results["pdf_mlp"], results["fashion_cnn"]
    lines = [
        f"PDF MLP   accuracy, all {pdf['all_rows']['n']} contagio rows: "
        f"{pdf['all_rows']['accuracy']:.4f}",
        f"PDF MLP   accuracy, stratified test split ({pdf['test_split']['n']} rows): "
        f"{pdf['test_split']['accuracy']:.4f}",
        f"PDF MLP   detection rate, {pdf['pdfrate_attacks_n']} evasive samples: "
        f"{pdf['pdfrate_attacks_detection_rate']:.4f}",
        f"CNN       accuracy, {cnn['n']} Fashion-MNIST test images: "
        f"{cnn['accuracy']:.4f}",
    ]
    for key in ("function_start_rnn", "function_start_rnn_fixed"):
        for part in ("all", "test_split"):
            s = results[key][part]
            lines.append(
                f"{key:<25} {part:<10} P {s['precision']:.4f} R {s['recall']:.4f} "
                f"F1 {s['f1']:.4f} ({s['binaries']} binaries, {s['windows']} windows, "
                f"{int(s['tp'] + s['fn'])} starts)"
            )
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="data directory")
    parser.add_argument("--out", default="evaluation.json", help="JSON output path")
    parser.add_argument(
        "--max-binaries",
        type=int,
        default=None,
        help="use only the first N ByteWeight binaries (smoke run)",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="use only the first N Fashion-MNIST test images (smoke run)",
    )
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    results = evaluate_ported_models(
        args.data_dir,
        args.progress,
        max_binaries=args.max_binaries,
        max_images=args.max_images,
        device=args.device,
    )
    results["settings"]["total_seconds"] = round(time.perf_counter() - start, 2)
    results["settings"]["torch_threads"] = torch.get_num_threads()
    write_json(Path(args.out), results)

    for line in summary_lines(results):
        print(line)
    print(f"total {results['settings']['total_seconds']:.1f} s; wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
