"""Reproduce the fidelity results of LEMNA (Guo et al., CCS 2018) with torchxai.

Usage::

    python scripts/reproduce_lemna.py --n-inputs 100 --mlp-inputs 200 --out lemna.json
    # a smoke run:
    python scripts/reproduce_lemna.py --n-inputs 3 --mlp-inputs 4 --ks 1,2 \\
        --max-binaries 1 --n-samples 60 --out smoke.json

Two parts, each explained by every method of ``--methods`` (LEMNA, LIME, the random
baseline) and judged by the same fidelity tests (:mod:`torchxai.fidelity`):

* **rnn** - the function-start RNN ``keras/O1_Bi_Rnn.h5`` on 200-byte windows of the
  test binaries of :func:`torchxai.datasets.split_binaries` (30 %, ``--seed``).
  From a seeded pool of windows, the script takes windows where the model predicts
  a function start at some non-padding position; one such position per window
  (seeded) is the explained target ``(position, 1)``. Features are the positions
  of the explained window (``--window`` bytes around the target, the methods'
  sampler). Deduction sets positions to 0 (the padding token), synthetic inputs
  are all 0 but the kept positions, and augmentation pastes the positions into a
  donor: another pool window whose target position is a real byte that is neither
  labelled nor predicted a function start. PCR for ``k`` in ``--ks``.
* **mlp** - the PDF malware MLP ``keras/pdf_mlp.h5`` on binarized contagio rows of
  a seeded stratified test split (20 %): malicious rows predicted malicious are
  explained (target class 1); donors are benign rows predicted benign; the null
  value is 0 (feature absent). The MLP calls the all-zero row malicious, so a
  zero background is not neutral for the synthetic test: by default each input
  gets its own background of random bits, each drawn with its frequency among the
  benign training rows (``--mlp-background benign-random``; ``zero`` is the seed
  code's choice, ``random`` fair coin flips). PCR for ``k`` in ``--mlp-ks``.

For both parts the RMSE of each method's local approximation
(``Explanation.fit_rmse``) is summarized. The script prints the tables next to the
paper's figures and writes everything to ``--out`` as JSON (atomically).

Where this differs from the paper and the seed code (``lemna/code/lemna_beta.py``):
the seed's test pickles were never published, so windows are re-cut from the
ByteWeight binaries (:mod:`torchxai.datasets.function_starts`); the seed explains
true function starts the model detects, this explains predicted starts (true or
not); the seed used one donor window for every augmentation and random positions
over the whole sequence; see :mod:`torchxai.fidelity` for the test definitions.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import torchxai
from torchxai.datasets import (
    binarize,
    list_byteweight_binaries,
    load_contagio,
    load_function_start_windows,
    split_binaries,
    train_test_split,
)
from torchxai.fidelity import FidelityTable, approximation_rmse, fidelity_table
from torchxai.io import write_json
from torchxai.models import load_function_start_rnn, load_pdf_mlp

logger = logging.getLogger("reproduce_lemna")

PAPER: dict[str, Any] = {
    "rnn": {
        "deduction": "nullifying the top 5 features leaves PCR <= 0.25 (LEMNA)",
        "synthetic": "the top 5 features alone keep PCR 0.85-0.90 (LEMNA)",
        "seed_code_k": 25,
    },
    "mlp": {"augmentation": "the top 5 features flip 75% of the donors (LEMNA)"},
    "rmse": {"lemna": [0.0102, 0.0264], "lime": [0.118, 0.178]},
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-inputs", type=int, default=100, help="RNN inputs")
    parser.add_argument("--mlp-inputs", type=int, default=200, help="MLP inputs")
    parser.add_argument("--ks", default="5,10,15,20,25,30,35", help="k for the RNN")
    parser.add_argument("--mlp-ks", default="5", help="k for the MLP")
    parser.add_argument("--methods", default="lemna,lime,random")
    parser.add_argument("--parts", default="rnn,mlp", help="rnn, mlp or both")
    parser.add_argument("--n-samples", type=int, default=500, help="perturbations")
    parser.add_argument("--window", type=int, default=40, help="RNN window (bytes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/reproduce_lemna.json")
    parser.add_argument("--data-dir", default=None, help="data directory")
    parser.add_argument(
        "--max-binaries", type=int, default=None, help="read at most N test binaries"
    )
    parser.add_argument(
        "--pool", type=int, default=None, help="RNN windows to predict (default 20n)"
    )
    parser.add_argument(
        "--method-options",
        default="{}",
        help='JSON of per-method options, e.g. \'{"lemna": {"em_iter": 20}}\'',
    )
    parser.add_argument(
        "--mlp-background",
        choices=("benign-random", "random", "zero"),
        default="benign-random",
        help="MLP synthetic-test background (the MLP calls all-zero rows malicious)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args(argv)
    args.method_options = _method_options(parser, args.method_options)
    args.ks = _int_list(parser, "--ks", args.ks)
    args.mlp_ks = _int_list(parser, "--mlp-ks", args.mlp_ks)
    args.methods = [m for m in args.methods.split(",") if m]
    args.parts = [p for p in args.parts.split(",") if p]
    if not args.methods or not args.parts:
        parser.error("--methods and --parts must not be empty")
    if any(p not in ("rnn", "mlp") for p in args.parts):
        parser.error(f"--methods {args.methods} / --parts {args.parts} not understood")
    for name in ("n_inputs", "mlp_inputs", "n_samples", "window"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    return args


def _method_options(
    parser: argparse.ArgumentParser, text: str
) -> dict[str, dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        parser.error(f"--method-options {text!r} is not JSON: {err}")
    if not isinstance(value, dict) or not all(
        isinstance(v, dict) for v in value.values()
    ):
        parser.error(
            f"--method-options {text!r}: expected {{method: {{option: value}}}}"
        )
    return value


def _int_list(parser: argparse.ArgumentParser, flag: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        parser.error(f"{flag} {text!r}: expected comma-separated integers")
    if not values or min(values) < 0:
        parser.error(f"{flag} {text!r}: expected non-negative integers")
    return values


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


@torch.no_grad()
def _predict(model: nn.Module, x: Tensor, chunk: int = 512) -> Tensor:
    return torch.cat(
        [model(x[i : i + chunk]).argmax(-1) for i in range(0, len(x), chunk)]
    )


def rnn_inputs(
    model: nn.Module, args: argparse.Namespace
) -> tuple[Tensor, Tensor, Tensor, dict[str, Any]]:
    """Explained windows, their ``(position, 1)`` targets and one donor each."""
    paths = list_byteweight_binaries(args.data_dir)
    _, test_paths = split_binaries(paths, test_fraction=0.3, seed=args.seed)
    test_paths = test_paths[: args.max_binaries] if args.max_binaries else test_paths
    data = load_function_start_windows(test_paths, window=200, progress=args.progress)
    gen = torch.Generator().manual_seed(args.seed)
    pool_size = min(len(data), args.pool or max(20 * args.n_inputs, 200))
    pool = torch.randperm(len(data), generator=gen)[:pool_size]
    tokens, labels = data.tokens[pool], data.labels[pool]
    predicted = _predict(model, tokens.to(args.device)).cpu()
    starts = (predicted == 1) & (tokens != 0)
    candidates = torch.nonzero(starts.any(dim=1)).flatten()[: args.n_inputs]
    if candidates.numel() == 0:
        raise SystemExit("no window with a predicted function start in the pool")
    positions = torch.stack(
        [_random_member(torch.nonzero(starts[i]).flatten(), gen) for i in candidates]
    )
    # a donor: another window whose target byte is real, not a start, not predicted one
    quiet = (predicted == 0) & (labels == 0) & (tokens != 0)
    donors = []
    for i, p in zip(candidates.tolist(), positions.tolist(), strict=True):
        usable = torch.nonzero(quiet[:, p]).flatten()
        usable = usable[usable != i]
        if usable.numel() == 0:
            raise SystemExit(f"no donor window for position {p}; raise --pool")
        donors.append(tokens[_random_member(usable, gen)])
    x = tokens[candidates]
    target = torch.stack([positions, torch.ones_like(positions)], dim=1)
    info = {
        "test_binaries": len(test_paths),
        "windows": len(data),
        "pool": pool_size,
        "pool_windows_with_predicted_start": int(starts.any(dim=1).sum()),
        "explained_true_starts": int(labels[candidates, positions].sum()),
    }
    return x, target, torch.stack(donors), info


def _random_member(values: Tensor, gen: torch.Generator) -> Tensor:
    return values[torch.randint(len(values), (1,), generator=gen)[0]]


def mlp_inputs(
    model: nn.Module, args: argparse.Namespace
) -> tuple[Tensor, Tensor, Tensor, dict[str, Any]]:
    """Malicious rows predicted malicious, benign donors, synthetic backgrounds."""
    train, test = train_test_split(load_contagio(args.data_dir), 0.2, seed=args.seed)
    features = binarize(test.features)
    predicted = _predict(model, features.to(args.device)).cpu()
    malicious = torch.nonzero((test.labels == 1) & (predicted == 1)).flatten()
    benign = torch.nonzero((test.labels == 0) & (predicted == 0)).flatten()
    gen = torch.Generator().manual_seed(args.seed)
    chosen = malicious[torch.randperm(len(malicious), generator=gen)[: args.mlp_inputs]]
    donors = benign[torch.randint(len(benign), (len(chosen),), generator=gen)]
    background = _mlp_background(args.mlp_background, train, len(chosen), gen)
    info = {
        "test_rows": len(test),
        "malicious_predicted_malicious": len(malicious),
        "benign_predicted_benign": len(benign),
        "background": args.mlp_background,
    }
    return features[chosen], features[donors], background, info


def _mlp_background(kind: str, train: Any, n: int, gen: torch.Generator) -> Tensor:
    """Backgrounds of the synthetic test, ``(n, 135)``: zeros or random bits.

    The MLP calls the all-zero row malicious (probability 0.98), so zeros are not
    neutral for it; ``benign-random`` draws each bit with its frequency among the
    benign training rows (rows the model calls benign), ``random`` with 1/2.
    """
    width = train.features.shape[1]
    if kind == "zero":
        return torch.zeros(n, width)
    if kind == "random":
        return torch.bernoulli(torch.full((n, width), 0.5), generator=gen)
    frequency = binarize(train.features[train.labels == 0]).mean(dim=0)
    return torch.bernoulli(frequency.expand(n, width), generator=gen)


# ---------------------------------------------------------------------------
# Explain and test
# ---------------------------------------------------------------------------


def evaluate(
    model: nn.Module,
    x: Tensor,
    target: Any,
    donors: Tensor,
    ks: list[int],
    args: argparse.Namespace,
    options: dict[str, Any],
    background: Tensor | float = 0,
) -> dict[str, Any]:
    """Explain ``x`` with every method and run the fidelity tests."""
    results: dict[str, Any] = {}
    for method in args.methods:
        start = time.perf_counter()
        explanation = torchxai.explain(
            model,
            x,
            method=method,
            target=target,
            seed=args.seed,
            n_samples=args.n_samples,
            output="logits",
            progress=args.progress,
            **options,
            **args.method_options.get(method, {}),
        )
        seconds = time.perf_counter() - start
        table = fidelity_table(
            model,
            x,
            explanation,
            ks,
            donors=donors,
            null_value=0,
            background=background,
            seed=args.seed,
            batch_size=512,
        )
        rmse = approximation_rmse(explanation)
        results[method] = {
            "explain_seconds": seconds,
            "fidelity": table.to_dict(),
            "rmse": rmse if rmse["n"] else None,
        }
        logger.info("%s: %.1f s", method, seconds)
        results[method]["_table"] = table
    return results


def format_part(title: str, results: dict[str, Any]) -> str:
    """The PCR table of one part: one column per method, then the baselines."""
    methods = list(results)
    tables: dict[str, FidelityTable] = {m: results[m]["_table"] for m in methods}
    first = tables[methods[0]]
    head = f"{'test':<13}{'k':>4}" + "".join(f"{m:>9}" for m in methods)
    lines = [title, head + f"{'random-k':>10}{'k=0':>7}"]
    for row in first.results:
        values = "".join(f"{tables[m].get(row.test, row.k).pcr:>9.3f}" for m in methods)
        lines.append(
            f"{row.test:<13}{row.k:>4}{values}{row.pcr_random:>10.3f}"
            f"{row.pcr_reference:>7.3f}"
        )
    lines.append("RMSE of the local approximation (mean, median [min, max]):")
    for m in methods:
        r = results[m]["rmse"]
        if r is not None:
            lines.append(
                f"  {m:<8}{r['mean']:.4f}, {r['median']:.4f} "
                f"[{r['min']:.4f}, {r['max']:.4f}] over {r['n']} inputs"
            )
    seconds = ", ".join(f"{m} {results[m]['explain_seconds']:.1f} s" for m in methods)
    lines.append(f"explain time: {seconds}")
    return "\n".join(lines)


def paper_lines() -> str:
    """The paper's figures to compare with."""
    rmse = PAPER["rmse"]
    return "\n".join(
        [
            "Paper (Guo et al., CCS 2018):",
            f"  RNN O1: {PAPER['rnn']['deduction']}; {PAPER['rnn']['synthetic']}; "
            f"the seed code uses k = {PAPER['rnn']['seed_code_k']}",
            f"  PDF MLP: {PAPER['mlp']['augmentation']}",
            f"  RMSE: LEMNA {rmse['lemna'][0]}-{rmse['lemna'][1]}, "
            f"LIME {rmse['lime'][0]}-{rmse['lime'][1]}",
        ]
    )


def _json_ready(part: dict[str, Any]) -> dict[str, Any]:
    """Drop the table objects; NaN becomes None."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if not k.startswith("_")}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return clean(part)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the reproduction; print the tables and write the JSON."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.progress else logging.WARNING)
    device = torch.device(args.device)
    output: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items()},
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "paper": PAPER,
    }
    started = time.perf_counter()
    printed = []
    if "rnn" in args.parts:
        rnn = load_function_start_rnn(data_dir=args.data_dir, device=device)
        x, target, donors, info = rnn_inputs(rnn, args)
        part = evaluate(
            rnn,
            x.to(device),
            target,
            donors.to(device),
            args.ks,
            args,
            {"window": args.window},
        )
        title = f"RNN function starts (O1), {len(x)} windows, PCR"
        printed.append(format_part(title, part))
        output["rnn"] = {"inputs": info | {"n": len(x)}, "methods": _json_ready(part)}
    if "mlp" in args.parts:
        mlp = load_pdf_mlp(data_dir=args.data_dir, device=device)
        x, donors, background, info = mlp_inputs(mlp, args)
        part = evaluate(
            mlp,
            x.to(device),
            1,
            donors.to(device),
            args.mlp_ks,
            args,
            {},
            background.to(device),
        )
        title = (
            f"PDF MLP, {len(x)} malicious inputs, PCR "
            f"(synthetic background: {args.mlp_background})"
        )
        printed.append(format_part(title, part))
        output["mlp"] = {"inputs": info | {"n": len(x)}, "methods": _json_ready(part)}
    output["seconds"] = time.perf_counter() - started
    printed.append(paper_lines())
    print("\n\n".join(printed))
    print(f"\ntotal {output['seconds']:.1f} s; JSON written to {args.out}")
    write_json(Path(args.out), output)
    return output


if __name__ == "__main__":
    main(sys.argv[1:])
