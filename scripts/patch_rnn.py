"""Patch the function-start RNN with LEMNA explanations of its errors (LEMNA, 6.3).

Usage::

    python scripts/patch_rnn.py --out-weights patched.pt --report-json patch.json
    # a small run (a few binaries, a few hundred errors):
    python scripts/patch_rnn.py --max-binaries 8 --max-errors 200 --epochs 3 \\
        --out-weights /tmp/patched.pt --report-json /tmp/patch.json --progress

Steps:

1. the ByteWeight binaries are split by :func:`torchxai.datasets.split_binaries`
   (30 % test, ``--seed``); ``--max-binaries N`` keeps a seeded subset of N of them
   with the same train/test proportion, and ``--holdout-binaries K`` sets K test
   binaries aside, never used for crafting; ``--max-train-windows`` and
   ``--max-test-windows`` keep seeded subsets of the windows (for short runs);
2. :func:`torchxai.patching.compare_patching` explains the errors of
   ``keras/O1_Bi_Rnn.h5`` on the test windows with LEMNA, crafts training windows
   (3 copies per false negative, 4 per false positive), fine-tunes a copy on the
   training windows plus the crafted ones, and does the same with the random
   control; the seed's own patched model ``keras/O1_Bi_Rnn_fixed.h5`` is counted
   on the same windows;
3. the table of FP/FN before and after is printed next to the seed's figures, the
   LEMNA-patched weights are saved with ``torch.save(state_dict)`` (atomically) to
   ``--out-weights``, and the report to ``--report-json``.

The input ``.h5`` files are only read. The output must be a new ``.pt`` file (or an
existing ``.pt`` with ``--overwrite``); an ``.h5`` path or an input file is refused.

Where this differs from the seed (``lemna/code/patch.py``): the seed's data
pickles were never published, so windows are re-cut from the binaries; errors are
counted on real bytes only (not padding); the seed's FN loop skipped starts at
positions <= 10 or on byte 0xFF, this explains every error; see
:mod:`torchxai.patching.crafting` for the crafting differences.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch
from torch import nn

from torchxai.datafiles import data_dir as resolve_data_dir
from torchxai.datasets import (
    SequenceDataset,
    list_byteweight_binaries,
    load_function_start_windows,
    split_binaries,
)
from torchxai.io import torch_save, write_json
from torchxai.models import (
    FUNCTION_START_RNN_FILE,
    FUNCTION_START_RNN_FIXED_FILE,
    FunctionStartRNN,
    load_function_start_rnn,
)
from torchxai.patching import (
    LemnaExplainer,
    PatchComparison,
    PatchOptions,
    compare_patching,
)

logger = logging.getLogger("patch_rnn")

SEED_FIGURES = {
    "source": "Henrygwb/Explaining-DL lemna/code/patch.py, O1 model, its own data",
    "fp": [33, 17],
    "fn": [48, 24],
    "paper": "false positives and negatives cut by about half",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="the data directory"
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help="input .h5 (default: O1_Bi_Rnn.h5)"
    )
    parser.add_argument(
        "--fixed-weights",
        type=Path,
        default=None,
        help="the seed's patched .h5 to compare with (default: O1_Bi_Rnn_fixed.h5)",
    )
    parser.add_argument("--no-fixed", action="store_true", help="skip the seed's model")
    parser.add_argument("--max-binaries", type=int, default=None, help="use N binaries")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument(
        "--holdout-binaries", type=int, default=0, help="test binaries kept out"
    )
    parser.add_argument(
        "--max-train-windows", type=int, default=None, help="seeded subset of train"
    )
    parser.add_argument(
        "--max-test-windows", type=int, default=None, help="seeded subset of test"
    )
    parser.add_argument("--max-errors", type=int, default=None, help="explain <= N")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--n-samples", type=int, default=500, help="LEMNA samples")
    parser.add_argument(
        "--n-components", type=int, default=6, help="LEMNA mixture components"
    )
    parser.add_argument("--em-iter", type=int, default=50, help="LEMNA EM iterations")
    parser.add_argument("--explain-batch-size", type=int, default=256)
    parser.add_argument(
        "--keep-fp-target",
        action="store_true",
        help="never blank a false positive's own byte (not in the seed)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-weights", type=Path, required=True, help="PATH.pt")
    parser.add_argument("--report-json", type=Path, default=None)
    parser.add_argument("--overwrite", action="store_true", help="replace an old .pt")
    parser.add_argument("--device", default=None, help="default: cuda if available")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    return parser.parse_args(argv)


def check_output(out: Path, inputs: list[Path], overwrite: bool) -> Path:
    """Refuse an output that is not a .pt file, is an input, or exists already."""
    if out.suffix.lower() in (".h5", ".hdf5", ".keras"):
        raise SystemExit(
            f"--out-weights {out}: refusing to write a Keras file; the patched "
            "weights are saved in torch format, give a .pt path"
        )
    if out.exists():
        for path in inputs:
            if path.exists() and out.samefile(path):
                raise SystemExit(f"--out-weights {out} is the input file {path}")
        if not overwrite:
            raise SystemExit(f"--out-weights {out} exists; pass --overwrite to replace")
    if not out.parent.is_dir():
        raise SystemExit(f"--out-weights {out}: folder {out.parent} does not exist")
    return out


def choose_binaries(
    args: argparse.Namespace,
) -> tuple[list[Path], list[Path], list[Path]]:
    """Train, test and holdout binaries (see the module docs, step 1)."""
    train, test = split_binaries(
        list_byteweight_binaries(args.data_dir), args.test_fraction, seed=args.seed
    )
    if args.max_binaries is not None:
        if args.max_binaries < 2 + args.holdout_binaries:
            raise SystemExit("--max-binaries must leave one train and one test binary")
        n_test = max(
            1 + args.holdout_binaries,
            round(args.max_binaries * len(test) / (len(train) + len(test))),
        )
        n_train = max(1, args.max_binaries - n_test)
        generator = torch.Generator().manual_seed(args.seed)
        train = [
            train[i]
            for i in sorted(
                torch.randperm(len(train), generator=generator)[:n_train].tolist()
            )
        ]
        test = [
            test[i]
            for i in sorted(
                torch.randperm(len(test), generator=generator)[:n_test].tolist()
            )
        ]
    if args.holdout_binaries >= len(test):
        raise SystemExit("--holdout-binaries must leave at least one test binary")
    holdout = test[len(test) - args.holdout_binaries :] if args.holdout_binaries else []
    return train, test[: len(test) - len(holdout)], holdout


def subsample(data: SequenceDataset, limit: int | None, seed: int) -> SequenceDataset:
    """At most ``limit`` windows, a seeded draw kept in file order."""
    if limit is None or len(data) <= limit:
        return data
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(data), generator=generator)[:limit]
    return data.subset(torch.sort(keep).values)


def load_models(
    args: argparse.Namespace, device: torch.device
) -> tuple[nn.Module, dict[str, nn.Module], list[Path]]:
    """The input model, the reference models, and the paths of the input files."""
    root = resolve_data_dir(args.data_dir)
    weights = args.weights or root / FUNCTION_START_RNN_FILE
    if args.weights is None:
        model = load_function_start_rnn(args.data_dir, device=device)
    else:
        model = FunctionStartRNN.from_h5(args.weights).to(device)
    inputs = [weights]
    references: dict[str, nn.Module] = {}
    if not args.no_fixed:
        fixed = args.fixed_weights or root / FUNCTION_START_RNN_FIXED_FILE
        if args.fixed_weights is None:
            references["seed's fixed model"] = load_function_start_rnn(
                args.data_dir, fixed=True, device=device
            )
        else:
            references["seed's fixed model"] = FunctionStartRNN.from_h5(fixed).to(
                device
            )
        inputs.append(fixed)
    return model, references, inputs


def print_summary(comparison: PatchComparison, seconds: dict[str, float]) -> None:
    """The table, the seed's figures and where the time went."""
    patched, control = comparison.patched, comparison.control
    print("\nFunction-start RNN: errors on the test windows (byte positions)")
    print(comparison.format_table())
    print(
        f"\nseed's figures ({SEED_FIGURES['source']}): FP {SEED_FIGURES['fp'][0]} -> "
        f"{SEED_FIGURES['fp'][1]}, FN {SEED_FIGURES['fn'][0]} -> "
        f"{SEED_FIGURES['fn'][1]}; paper: {SEED_FIGURES['paper']}"
    )
    capped = f" (capped by --max-errors {patched.max_errors})" if patched.capped else ""
    print(
        f"errors explained: {patched.errors_explained} of {patched.errors_found}"
        f"{capped}; crafted windows: {patched.crafted} "
        f"(control: {control.crafted}); train windows: {patched.n_train_windows}; "
        f"test windows: {patched.n_test_windows}"
    )
    print(
        "false positives whose own byte was blanked: "
        f"{patched.fp_targets_overwritten} ({patched.explainer}), "
        f"{control.fp_targets_overwritten} ({control.explainer})"
    )
    timing = {k: round(v, 1) for k, v in seconds.items()}
    print(
        f"seconds: lemna {_rounded(patched.seconds)}, control "
        f"{_rounded(control.seconds)}, total {timing}"
    )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in values.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the patching comparison; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    device = torch.device(
        args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    model, references, inputs = load_models(args, device)
    out = check_output(args.out_weights, inputs, args.overwrite)
    if args.report_json is not None:
        check_output(args.report_json, inputs, overwrite=True)

    train_paths, test_paths, holdout_paths = choose_binaries(args)
    logger.info(
        "binaries: %d train, %d test, %d holdout",
        len(train_paths),
        len(test_paths),
        len(holdout_paths),
    )
    train = subsample(
        load_function_start_windows(train_paths, progress=args.progress),
        args.max_train_windows,
        args.seed,
    )
    test = subsample(
        load_function_start_windows(test_paths, progress=args.progress),
        args.max_test_windows,
        args.seed,
    )
    holdout = load_function_start_windows(holdout_paths) if holdout_paths else None
    loaded = time.perf_counter()

    options = PatchOptions(
        max_errors=args.max_errors,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        explain_batch_size=args.explain_batch_size,
        keep_fp_target=args.keep_fp_target,
        seed=args.seed,
        progress=args.progress,
    )
    explainer = LemnaExplainer(
        seed=args.seed,
        n_samples=args.n_samples,
        n_components=args.n_components,
        em_iter=args.em_iter,
        progress=args.progress,
    )
    patched, comparison = compare_patching(
        model,
        train,
        test,
        explainer,
        references=references,
        options=options,
        holdout=holdout,
    )
    seconds = {
        "load": loaded - started,
        "patching": time.perf_counter() - loaded,
    }

    state = {k: v.detach().cpu() for k, v in patched.state_dict().items()}
    torch_save(state, out)
    logger.info("patched weights written to %s", out)
    print_summary(comparison, seconds)
    if args.report_json is not None:
        report = {
            "comparison": comparison.to_dict(),
            "seed_figures": SEED_FIGURES,
            "binaries": {
                "train": [p.name for p in train_paths],
                "test": [p.name for p in test_paths],
                "holdout": [p.name for p in holdout_paths],
            },
            "arguments": {
                k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
            },
            "device": str(device),
            "seconds": seconds,
            "out_weights": str(out),
        }
        write_json(args.report_json, report)
        logger.info("report written to %s", args.report_json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
