"""Judge torchxai's explainers beyond the papers: planted truth and security metrics.

Usage::

    python scripts/evaluate_explainers.py --n-inputs 20 --out results/evaluate.json
    # a smoke run:
    python scripts/evaluate_explainers.py --n-inputs 2 --planted-inputs 2 \\
        --n-samples 150 --stability-runs 2 --dmm-steps 10 --max-binaries 1 \\
        --lemna-components 2 --em-iter 3 --n-steps 5 --out smoke.json

Two parts, for every method of ``--methods`` (default LEMNA, LIME, the random
baseline and DMM):

* **planted** - the models of :mod:`torchxai.testing`, whose output provably
  depends on a known set of elements: a sparse logistic function of 4 of 30
  columns, a labeller firing on ``ret; push ebp; mov ebp, esp`` around the explained
  position of 64-byte sequences, a 10x10 image classified by the mean of one 3x3
  region. Reported: the mean top-k recall (:func:`torchxai.testing.top_k_recall`,
  k = the number of relevant elements, ties counted by their chance).
* **metrics** - the measures of Warnecke et al. (EuroS&P 2020) as computed by
  :mod:`torchxai.metrics`: descriptive accuracy (area under the curve of the
  target probability as the top features are removed, set to 0; lower is better),
  sparsity (area under the mass-around-zero curve; higher is sparser), stability
  (top-k overlap between runs with ``--stability-runs`` seeds; higher is better)
  and efficiency (seconds per explained input, median over the runs, all inputs of
  a method explained in one call). On the PDF malware MLP (binarized contagio rows
  of a seeded stratified 20 % test split that are malicious and predicted so,
  target class 1) and the function-start RNN (200-byte windows of the test
  binaries of a seeded 30 % split with a predicted start at a real byte; one such
  position per window is the target ``(position, 1)``; the features are the
  ``--window`` bytes around it).

DMM is a global method: it fits one mixture to the whole explained batch, so its
time is the batch's time divided by the batch size; on the RNN its features are the
window's byte values (see :mod:`torchxai.methods.dmm`). Warnecke et al.'s LEMNA
figures are printed for orientation; their models, data and metric details differ
(see the :mod:`torchxai.metrics` docstrings), so the numbers are not directly
comparable.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import torchxai
from torchxai import metrics
from torchxai.datasets import (
    binarize,
    list_byteweight_binaries,
    load_contagio,
    load_function_start_windows,
    split_binaries,
    train_test_split,
)
from torchxai.errors import TorchXAIError
from torchxai.models import load_function_start_rnn, load_pdf_mlp
from torchxai.testing import (
    PlantedImageModel,
    PlantedSequenceModel,
    PlantedTabularModel,
    top_k_recall,
)

logger = logging.getLogger("evaluate_explainers")

WARNECKE_LEMNA = {
    "model": "Mimicus+ PDF MLP (Warnecke et al., EuroS&P 2020)",
    "descriptive_accuracy": 0.405,
    "stability": 0.30,
    "seconds_per_input": 2.6,
    "device": "CPU",
}
PARTS = ("planted", "mlp", "rnn")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-inputs", type=int, default=20, help="inputs per model")
    parser.add_argument(
        "--planted-inputs", type=int, default=None, help="inputs per planted model"
    )
    parser.add_argument("--methods", default="lemna,lime,random,dmm")
    parser.add_argument("--parts", default=",".join(PARTS), help="planted, mlp, rnn")
    parser.add_argument("--n-samples", type=int, default=500, help="perturbations")
    parser.add_argument("--window", type=int, default=40, help="RNN window (bytes)")
    parser.add_argument("--stability-runs", type=int, default=3, help="seeds")
    parser.add_argument("--k", type=int, default=10, help="top-k of the stability")
    parser.add_argument("--n-steps", type=int, default=30, help="DA: most removals")
    parser.add_argument("--dmm-steps", type=int, default=2000, help="DMM SVI steps")
    parser.add_argument(
        "--lemna-components", type=int, default=None, help="LEMNA's K (default 6)"
    )
    parser.add_argument(
        "--em-iter", type=int, default=None, help="LEMNA's EM iterations (default 10)"
    )
    parser.add_argument("--max-binaries", type=int, default=None, help="RNN binaries")
    parser.add_argument("--seed", type=int, default=0, help="input selection seed")
    parser.add_argument("--out", default="results/evaluate_explainers.json")
    parser.add_argument("--data-dir", default=None, help="data directory")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--progress", action="store_true", help="log progress")
    args = parser.parse_args(argv)
    args.methods = [m for m in args.methods.split(",") if m]
    args.parts = [p for p in args.parts.split(",") if p]
    if not args.methods or any(p not in PARTS for p in args.parts):
        parser.error(f"--methods {args.methods} / --parts {args.parts} not understood")
    if args.planted_inputs is None:
        args.planted_inputs = args.n_inputs
    for name in ("n_inputs", "planted_inputs", "n_samples", "window", "k", "n_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    if args.stability_runs < 2:
        parser.error("--stability-runs must be at least 2")
    for name in ("lemna_components", "em_iter", "max_binaries"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    return args


def method_options(method: str, args: argparse.Namespace) -> dict[str, Any]:
    """The options of ``torchxai.explain`` for one method."""
    options: dict[str, Any] = {"output": "logits", "window": args.window}
    if method == "dmm":
        options["steps"] = args.dmm_steps
    else:
        options["n_samples"] = args.n_samples
    if method == "lemna" and args.lemna_components is not None:
        options["n_components"] = args.lemna_components
    if method == "lemna" and args.em_iter is not None:
        options["em_iter"] = args.em_iter
    return options


# ---------------------------------------------------------------------------
# Planted ground truth
# ---------------------------------------------------------------------------


def planted_recall(args: argparse.Namespace) -> dict[str, Any]:
    """Mean top-k recall of every method on the three planted models."""
    problems: list[tuple[str, nn.Module, Any]] = [
        ("tabular", PlantedTabularModel(30, n_relevant=4, seed=args.seed), None),
        ("sequence", PlantedSequenceModel(), 64),
        ("image", PlantedImageModel(10, 10, region=(2, 5, 3, 3)), None),
    ]
    results: dict[str, Any] = {}
    for name, model, length in problems:
        model.to(args.device)
        kwargs = {"length": length} if length else {}
        sample = model.sample(args.planted_inputs, seed=args.seed, **kwargs)  # type: ignore[operator]
        row: dict[str, Any] = {
            "relevant_per_input": int(sample.relevant[0].sum()),
            "elements_per_input": sample.relevant[0].numel(),
        }
        for method in args.methods:
            start = time.perf_counter()
            try:
                explanation = torchxai.explain(
                    model,
                    sample.inputs,
                    method,
                    target=sample.target,
                    seed=args.seed,
                    **method_options(method, args),
                )
            except TorchXAIError as error:
                row[method] = {"error": f"{type(error).__name__}: {error}"}
                continue
            recall = top_k_recall(explanation, sample.relevant)
            row[method] = {
                "recall": float(recall.mean()),
                "seconds": time.perf_counter() - start,
            }
            logger.info("planted %s %s: recall %.3f", name, method, recall.mean())
        results[name] = row
    return results


# ---------------------------------------------------------------------------
# The models of the original work
# ---------------------------------------------------------------------------


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, chunk: int = 512) -> Tensor:
    return torch.cat(
        [model(x[i : i + chunk]).argmax(-1) for i in range(0, len(x), chunk)]
    )


def mlp_problem(args: argparse.Namespace) -> tuple[nn.Module, Tensor, Tensor, dict]:
    """Malicious test rows the PDF MLP predicts malicious; target class 1."""
    model = load_pdf_mlp(args.data_dir, device=args.device)
    _, test = train_test_split(load_contagio(args.data_dir), 0.2, seed=args.seed)
    features = binarize(test.features).to(args.device)
    predicted = _predict(model, features).cpu()
    malicious = torch.nonzero((test.labels == 1) & (predicted == 1)).flatten()
    gen = torch.Generator().manual_seed(args.seed)
    chosen = malicious[torch.randperm(len(malicious), generator=gen)[: args.n_inputs]]
    target = torch.ones(len(chosen), dtype=torch.int64, device=args.device)
    info = {"test_rows": len(test), "malicious_predicted_malicious": len(malicious)}
    return model, features[chosen.to(args.device)], target, info


def rnn_problem(args: argparse.Namespace) -> tuple[nn.Module, Tensor, Tensor, dict]:
    """Test windows with a predicted function start at a real byte; one per window."""
    model = load_function_start_rnn(args.data_dir, device=args.device)
    paths = list_byteweight_binaries(args.data_dir)
    _, test_paths = split_binaries(paths, test_fraction=0.3, seed=args.seed)
    test_paths = test_paths[: args.max_binaries] if args.max_binaries else test_paths
    data = load_function_start_windows(test_paths, window=200)
    gen = torch.Generator().manual_seed(args.seed)
    pool = torch.randperm(len(data), generator=gen)[: max(20 * args.n_inputs, 200)]
    tokens = data.tokens[pool].to(args.device)
    starts = ((_predict(model, tokens) == 1) & (tokens != 0)).cpu()
    rows = torch.nonzero(starts.any(dim=1)).flatten()[: args.n_inputs]
    if rows.numel() == 0:
        raise SystemExit(
            "no window with a predicted function start; raise --max-binaries"
        )
    positions = []
    for row in rows.tolist():
        options = torch.nonzero(starts[row]).flatten()
        positions.append(options[torch.randint(len(options), (1,), generator=gen)][0])
    position = torch.stack(positions)
    target = torch.stack([position, torch.ones_like(position)], dim=1).to(args.device)
    info = {"test_binaries": len(test_paths), "windows": len(data)}
    return model, tokens[rows.to(args.device)], target, info


def metrics_rows(
    model: nn.Module, x: Tensor, target: Tensor, args: argparse.Namespace
) -> dict[str, Any]:
    """The four metrics of every method on one model."""
    seeds = tuple(range(args.seed, args.seed + args.stability_runs))
    rows: dict[str, Any] = {}
    for method in args.methods:
        try:
            explainer = metrics.make_explainer(
                model, method, target=target, **method_options(method, args)
            )
            report = metrics.evaluate_explainer(
                model,
                x,
                explainer,
                seeds=seeds,
                k=args.k,
                n_steps=args.n_steps,
                output="logits",
            )
        except TorchXAIError as error:
            rows[method] = {"error": f"{type(error).__name__}: {error}"}
            logger.info("%s: %s", method, rows[method]["error"])
            continue
        rows[method] = report.summary()
        logger.info("%s: %s", method, rows[method])
    return rows


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def format_planted(results: dict[str, Any], methods: list[str]) -> str:
    """Recall table: one row per planted model, one column per method."""
    lines = [
        "Planted ground truth: mean top-k recall (k = relevant elements per input)",
        f"{'model':<10}{'relevant':>10}" + "".join(f"{m:>9}" for m in methods),
    ]
    for name, row in results.items():
        cells = [_cell(row.get(m, {}), "recall") for m in methods]
        relevant = f"{row['relevant_per_input']}/{row['elements_per_input']}"
        lines.append(f"{name:<10}{relevant:>10}" + "".join(f"{c:>9}" for c in cells))
    chance = ", ".join(
        f"{n} {r['relevant_per_input'] / r['elements_per_input']:.3f}"
        for n, r in results.items()
    )
    lines.append(
        f"(chance, over all elements: {chance}; the sequence methods see a window)"
    )
    return "\n".join(lines)


def format_metrics(results: dict[str, Any], methods: list[str]) -> str:
    """One table: model x method rows, the four metrics, then Warnecke's LEMNA."""
    head = (
        f"{'model':<6}{'method':<8}{'DA AUC':>9}{'MAZ AUC':>9}{'stab.':>8}"
        f"{'s/input':>10}"
    )
    lines = ["Warnecke et al. metrics", head]
    for part, result in results.items():
        for method in methods:
            row = result["methods"].get(method, {})
            if "error" in row:
                lines.append(f"{part:<6}{method:<8}  n/a: {row['error'][:70]}")
                continue
            lines.append(
                f"{part:<6}{method:<8}{_cell(row, 'descriptive_accuracy'):>9}"
                f"{_cell(row, 'sparsity'):>9}{_cell(row, 'stability'):>8}"
                f"{_cell(row, 'seconds_per_input', 4):>10}"
            )
    w = WARNECKE_LEMNA
    lines.append(
        f"{'paper':<6}{'lemna':<8}{w['descriptive_accuracy']:>9.3f}{'-':>9}"
        f"{w['stability']:>8.2f}{w['seconds_per_input']:>10.1f}  ({w['model']}, "
        f"{w['device']})"
    )
    return "\n".join(lines)


def _cell(row: dict[str, Any], key: str, digits: int = 3) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def write_json_atomically(data: dict[str, Any], path: Path) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(_finite(data), stream, indent=2, allow_nan=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _finite(value: Any) -> Any:
    """NaN and infinities become None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the evaluation; print the tables and write the JSON."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.progress else logging.WARNING)
    started = time.perf_counter()
    output: dict[str, Any] = {
        "settings": {k: v for k, v in vars(args).items()},
        "device": str(torch.device(args.device)),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "warnecke_lemna": WARNECKE_LEMNA,
    }
    if "planted" in args.parts:
        output["planted"] = planted_recall(args)
        print(format_planted(output["planted"], args.methods))
        print()
    results: dict[str, Any] = {}
    for part in ("mlp", "rnn"):
        if part not in args.parts:
            continue
        model, x, target, info = (mlp_problem if part == "mlp" else rnn_problem)(args)
        results[part] = {
            "n_inputs": len(x),
            "inputs": info,
            "methods": metrics_rows(model, x, target, args),
        }
    if results:
        output["metrics"] = results
        print(format_metrics(results, args.methods))
    output["seconds"] = time.perf_counter() - started
    write_json_atomically(output, Path(args.out))
    print(f"\nwritten to {args.out} in {output['seconds']:.0f} s")
    return output


if __name__ == "__main__":
    main(sys.argv[1:])
