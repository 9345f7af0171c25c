"""The ``torchxai`` command line.

Every subcommand is two small functions, one adding its arguments to a parser and
one running it, registered as one row of :data:`SUBCOMMANDS`. To add a command,
write the pair and add the row. Global options (``--seed``, ``--device``,
``--verbose``) are accepted before or after the subcommand's name.

Errors raised by torchxai (:class:`~torchxai.errors.TorchXAIError`) are printed to
stderr without a traceback and give exit code 2, as usage errors do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchxai import __version__
from torchxai.errors import InvalidInputError, TorchXAIError

_PROG = "torchxai"


@dataclass(frozen=True)
class Subcommand:
    """One row of the command table.

    Attributes:
        name: the word typed after ``torchxai``.
        help: one line shown by ``torchxai --help``.
        add_arguments: adds the subcommand's own options to its parser.
        run: runs it with the parsed arguments; returns the exit code.
        uses_torch: seed the generators and check ``--device`` before running.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    uses_torch: bool = True


# --- torchxai download -----------------------------------------------------------


def _add_download_arguments(parser: argparse.ArgumentParser) -> None:
    from torchxai.download import GROUPS, MIRROR_ENV_VAR

    _add_data_dir(parser)
    parser.add_argument(
        "--only",
        metavar="GROUPS",
        help=f"comma-separated groups to fetch (default: all): {','.join(GROUPS)}",
    )
    parser.add_argument(
        "--mirror",
        metavar="URL",
        help="a mirror root holding the same relative paths, replacing the public "
        f"addresses (default: ${MIRROR_ENV_VAR}); a local directory also works",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the files that would be fetched, with their addresses, and stop",
    )
    _add_progress(parser)


def _run_download(args: argparse.Namespace) -> int:
    from torchxai.datafiles import data_dir
    from torchxai.download import download, missing_files, url_for

    root = data_dir(args.data_dir)
    if args.dry_run:
        todo = missing_files(root, args.only, check_sums=True)
        print(f"{len(todo)} file(s) to fetch into {root}")
        for entry in todo:
            print(f"  {entry.relative}  <-  {url_for(entry, args.mirror)}")
        return 0
    report = download(
        root, only=args.only, mirror=args.mirror, progress=_progress(args)
    )
    print(
        f"fetched {len(report.fetched)} file(s) "
        f"({report.bytes_fetched / 2**20:.1f} MiB) into {report.data_dir}; "
        f"{len(report.present)} already present with matching checksums"
    )
    return 0


# --- torchxai demo ---------------------------------------------------------------


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    _add_data_dir(parser)
    parser.add_argument(
        "--max-binaries",
        type=_positive_int,
        metavar="N",
        help="evaluate the RNNs on the first N of the 129 binaries (default: all)",
    )
    parser.add_argument(
        "--max-images",
        type=_positive_int,
        metavar="N",
        help="evaluate the CNN on the first N test images only (default: all)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="OUT", help="also write the results to OUT"
    )
    parser.add_argument(
        "--mirror", metavar="URL", help="mirror root for missing data files"
    )
    _add_progress(parser)


def _run_demo(args: argparse.Namespace) -> int:
    from torchxai.demo import format_results, run_demo

    results = run_demo(
        args.data_dir,
        max_binaries=args.max_binaries,
        max_images=args.max_images,
        device=args.device,
        progress=_progress(args),
        mirror=args.mirror,
    )
    print(format_results(results))
    if args.json is not None:
        record = {
            "command": "demo",
            "torchxai_version": __version__,
            "seed": args.seed,
            "device": None if args.device is None else str(args.device),
            "max_binaries": args.max_binaries,
            "max_images": args.max_images,
            "results": results,
        }
        write_json(args.json, record)
        print(f"results written to {args.json}")
    return 0


# --- torchxai explain ------------------------------------------------------------


def _add_explain_arguments(parser: argparse.ArgumentParser) -> None:
    from torchxai.methods import available_methods

    _add_model_and_inputs(parser)
    parser.add_argument(
        "--method",
        default="lemna",
        help=f"explanation method (default: lemna): {', '.join(available_methods())}",
    )
    parser.add_argument(
        "--target",
        metavar="T",
        help="class C, or POSITION[,CLASS] for a sequence labeller (default: the "
        "predicted class; for a labeller the first position predicted non-zero)",
    )
    _add_explain_options(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("explanations"),
        metavar="DIR",
        help="output folder: parts, explanation.pt, exports (default: explanations)",
    )
    parser.add_argument(
        "--format",
        default="json",
        metavar="FMT",
        help="comma-separated exports besides explanation.pt: json, csv "
        "(default: json)",
    )
    parser.add_argument(
        "--heatmaps",
        type=_non_negative_int,
        default=8,
        metavar="N",
        help="PNG heatmaps of the first N images or sequences (default: 8)",
    )
    _add_chunking(parser)
    _add_progress(parser)


def _run_explain(args: argparse.Namespace) -> int:
    from torchxai.distributed import init_process_group

    group = init_process_group(device=args.device)  # torchrun: join the ranks
    try:
        data, model = _load_workload(args, group.device)
        started = time.perf_counter()
        result = _explain_all(args, data, model, group)
        if group.rank != 0:
            return 0
        if result is None:
            print(
                f"stopped after --max-chunks {args.max_chunks} chunk(s); run the "
                f"same command again to resume from {args.out}"
            )
            return 0
        written = _export_explanation(result, data, args)
        print(
            f"explained {result.batch_size} input(s) of {data.description} with "
            f"{args.method} in {time.perf_counter() - started:.1f} s"
        )
        print(_top_features(result, data.feature_names))
        for path in written:
            print(f"wrote {path}")
        return 0
    finally:
        if group.created:
            import torch.distributed as dist

            dist.destroy_process_group()


def _explain_all(
    args: argparse.Namespace, data: Any, model: Any, group: Any
) -> Any | None:
    """Explain the inputs in resumable chunks, over every rank under torchrun."""
    import torch

    from torchxai.distributed import GLOBAL_METHODS, explain_chunked, explain_sharded

    target = _explain_target(args.target, model, data.inputs, args.batch_size)
    options = _explain_options(args)
    chunk_size = args.chunk_size
    if args.method in GLOBAL_METHODS:  # one global fit over all the inputs
        chunk_size = max(chunk_size, len(data.inputs))
    common = {
        "chunk_size": chunk_size,
        "max_chunks": args.max_chunks,
        "progress": _progress(args),
        "run_info": {"model": args.model, "inputs": data.description},
    }
    if group.world_size > 1:
        return explain_sharded(
            lambda _device: model, data.inputs, args.method, args.out,
            target=target, **common, **options,
        )  # fmt: skip
    if isinstance(target, torch.Tensor):
        target = target.to(group.device)
    return explain_chunked(
        model, data.inputs.to(group.device), args.method, args.out,
        target=target, **common, **options,
    )  # fmt: skip


def _add_model_and_inputs(parser: argparse.ArgumentParser) -> None:
    from torchxai.workloads import BUILTIN_MODELS, DATASETS, SPLITS

    parser.add_argument(
        "--model",
        required=True,
        metavar="MODEL",
        help=f"a built-in model ({', '.join(BUILTIN_MODELS)}), a TorchScript or "
        "torch.save'd module file, or package.module:factory",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--inputs",
        type=Path,
        metavar="FILE",
        help="inputs to explain: a .pt tensor, .npy array or .csv table (N, ...)",
    )
    source.add_argument(
        "--dataset",
        choices=DATASETS,
        help="a built-in data set (default: the built-in model's own)",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default="test", help="data set part (test)"
    )
    parser.add_argument(
        "--start", type=_non_negative_int, default=0, help="first row (0)"
    )
    parser.add_argument(
        "--stop", type=_positive_int, default=None, help="one past the last row"
    )
    parser.add_argument(
        "--max-binaries",
        type=_positive_int,
        metavar="N",
        help="function_starts: read only the first N binaries of the split",
    )
    parser.add_argument(
        "--output",
        choices=("logits", "probabilities"),
        default="logits",
        help="what the model returns (default: logits, as the built-in models)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1024,
        metavar="N",
        help="inputs per model call (default: 1024)",
    )
    _add_data_dir(parser)


def _add_explain_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--n-samples",
        type=_positive_int,
        default=500,
        metavar="N",
        help="perturbed samples per input (default: 500)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another option of torchxai.explain, VALUE read as JSON if it parses "
        "(e.g. n_components=3, window=40); repeatable",
    )


def _add_chunking(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=256,
        metavar="N",
        help="inputs per saved chunk; a re-run skips finished chunks (default: 256; "
        "global methods such as dmm take all inputs in one chunk)",
    )
    parser.add_argument(
        "--max-chunks",
        type=_non_negative_int,
        metavar="N",
        help="stop after N new chunks (resume later with the same command)",
    )


def _load_workload(args: argparse.Namespace, device: Any) -> tuple[Any, Any]:
    """The inputs (on the CPU) and the model (eval mode, on ``device``)."""
    from torchxai.workloads import load_model

    data = _load_inputs(args)
    model = load_model(args.model, data_dir=args.data_dir, device=device)
    return data, model


def _load_inputs(args: argparse.Namespace) -> Any:
    from torchxai.workloads import (
        BUILTIN_MODELS,
        DataSlice,
        load_dataset_slice,
        load_inputs,
    )

    if args.inputs is not None:
        inputs = load_inputs(args.inputs)
        stop = inputs.shape[0] if args.stop is None else min(args.stop, len(inputs))
        if args.start >= stop:
            raise InvalidInputError(
                f"--start {args.start}: the inputs file has {len(inputs)} row(s)"
            )
        return DataSlice(
            inputs[args.start : stop], None, None, f"{args.inputs}[{args.start}:{stop}]"
        )
    dataset = args.dataset or BUILTIN_MODELS.get(args.model)
    if dataset is None:
        raise InvalidInputError(
            f"--model {args.model!r} is not built in: give its inputs with --inputs "
            "FILE or --dataset NAME"
        )
    return load_dataset_slice(
        dataset,
        args.start,
        args.stop,
        split=args.split,
        seed=args.seed,
        max_binaries=args.max_binaries,
        data_dir=args.data_dir,
    )


def _explain_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of torchxai.explain from the command line."""
    options: dict[str, Any] = {}
    for item in args.option:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--option {item!r}: expected KEY=VALUE")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        options[key.strip()] = value
    options.update(
        seed=args.seed,
        output=args.output,
        n_samples=args.n_samples,
        batch_size=args.batch_size,
    )
    return options


def _explain_target(text: str | None, model: Any, inputs: Any, batch_size: int) -> Any:
    """``--target`` as torchxai.explain takes it; for labellers a default position."""
    labeller = _is_labeller(model, inputs)
    if text is None:
        if labeller:
            from torchxai.workloads import first_predicted_positions

            return first_predicted_positions(model, inputs, batch_size=batch_size)
        return None
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        return (values[0], None) if labeller else values[0]
    if len(values) == 2 and labeller:
        return (values[0], values[1])
    expected = "POSITION or POSITION,CLASS" if labeller else "a class index"
    raise InvalidInputError(f"--target {text!r}: expected {expected}")


def _is_labeller(model: Any, inputs: Any) -> bool:
    import torch

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with torch.no_grad():
        return model(inputs[:1].to(device)).dim() == 3


def _export_explanation(result: Any, data: Any, args: argparse.Namespace) -> list[Path]:
    from torchxai.io import save_explanation_csv, save_explanation_json, save_heatmap

    formats = {part.strip() for part in args.format.split(",") if part.strip()}
    unknown = formats - {"json", "csv"}
    if unknown:
        raise InvalidInputError(
            f"--format {args.format!r}: unknown {sorted(unknown)}; expected json, csv"
        )
    written = [args.out / "explanation.pt"]
    extra = {"model": args.model, "inputs": data.description, "first_row": args.start}
    if "json" in formats:
        save_explanation_json(result, args.out / "explanation.json", extra=extra)
        written.append(args.out / "explanation.json")
    if "csv" in formats:
        save_explanation_csv(
            result,
            args.out / "explanation.csv",
            feature_names=data.feature_names,
            index_offset=args.start,
        )
        written.append(args.out / "explanation.csv")
    drawable = len(result.input_shape) > 1 or result.options.get("sampler") == (
        "sequence"
    )
    for index in range(min(args.heatmaps, result.batch_size) if drawable else 0):
        path = args.out / "heatmaps" / f"input-{args.start + index:05d}.png"
        save_heatmap(result, path, index=index, inputs=data.inputs.cpu())
        written.append(path)
    return written


def _top_features(result: Any, names: list[str] | None, shown: int = 3) -> str:
    """The five most important elements of the first few inputs, one line each."""
    k = min(5, len(result.ranking()[0]))
    lines = []
    for row, top in enumerate(result.top_k(k)[:shown].tolist()):
        labels = [names[i] if names else str(i) for i in top]
        lines.append(f"  input {row}: top {k}: {', '.join(labels)}")
    return "\n".join(lines)


# --- torchxai fidelity -----------------------------------------------------------


def _add_fidelity_arguments(parser: argparse.ArgumentParser) -> None:
    from torchxai.fidelity import TESTS

    _add_model_and_inputs(parser)
    parser.add_argument(
        "--methods",
        default="lemna,lime,random",
        help="comma-separated methods to compare (default: lemna,lime,random)",
    )
    parser.add_argument(
        "--ks", default="5,10,15", help="comma-separated k values (default: 5,10,15)"
    )
    parser.add_argument(
        "--tests",
        default=",".join(TESTS),
        help=f"comma-separated tests (default: {','.join(TESTS)})",
    )
    parser.add_argument(
        "--class",
        dest="target_class",
        type=_non_negative_int,
        metavar="C",
        help="explain only inputs predicted as class C (for a labeller: positions "
        "predicted C, default 1)",
    )
    parser.add_argument(
        "--n-inputs",
        type=_positive_int,
        default=100,
        metavar="N",
        help="explain the first N eligible inputs of the slice (default: 100)",
    )
    parser.add_argument(
        "--null-value",
        type=float,
        default=0.0,
        help="value of a removed feature and of the synthetic background (0)",
    )
    _add_explain_options(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/fidelity"),
        metavar="DIR",
        help="folder for each method's explanations and fidelity.json "
        "(default: results/fidelity)",
    )
    _add_chunking(parser)
    _add_progress(parser)


def _run_fidelity(args: argparse.Namespace) -> int:
    from torchxai.distributed import explain_chunked
    from torchxai.fidelity import fidelity_table
    from torchxai.workloads import select_fidelity_inputs

    methods = _names(args.methods, "--methods")
    ks = _ints(args.ks, "--ks")
    tests = _names(args.tests, "--tests")
    data, model = _load_workload(args, args.device)
    chosen = select_fidelity_inputs(
        model,
        data.inputs.to(args.device or "cpu"),
        n_inputs=args.n_inputs,
        target_class=args.target_class,
        need_donors="augmentation" in tests,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    if chosen.donors is None and "augmentation" in tests:
        print("no donor of another class in the slice: augmentation test skipped")
        tests = [test for test in tests if test != "augmentation"]
    options = _explain_options(args)
    tables, record = {}, _fidelity_record(args, data, chosen, methods, ks, tests)
    for method in methods:
        started = time.perf_counter()
        explanation = explain_chunked(
            model, chosen.inputs, method, args.out / method,
            target=chosen.target, chunk_size=args.chunk_size,
            max_chunks=args.max_chunks, progress=_progress(args),
            run_info={"model": args.model, "inputs": data.description}, **options,
        )  # fmt: skip
        if explanation is None:
            print(f"{method}: stopped by --max-chunks; run again to resume")
            return 0
        tables[method] = fidelity_table(
            model, chosen.inputs, explanation.to(chosen.inputs.device), ks,
            target=chosen.target, donors=chosen.donors, null_value=args.null_value,
            background=args.null_value, tests=tests, seed=args.seed,
            batch_size=args.batch_size,
        )  # fmt: skip
        record["methods"][method] = {
            "seconds": time.perf_counter() - started,
            "rows": tables[method].to_dict(),
        }
    print(format_fidelity(tables, tests, ks, len(chosen.inputs), args.model))
    write_json(args.out / "fidelity.json", record)
    print(f"results written to {args.out / 'fidelity.json'}")
    return 0


def _fidelity_record(
    args: argparse.Namespace,
    data: Any,
    chosen: Any,
    methods: list[str],
    ks: list[int],
    tests: list[str],
) -> dict[str, Any]:
    import torch

    return {
        "command": "fidelity",
        "torchxai_version": __version__,
        "torch": torch.__version__,
        "model": args.model,
        "inputs": data.description,
        "n_inputs": len(chosen.inputs),
        "rows": chosen.rows,
        "seed": args.seed,
        "device": str(chosen.inputs.device),
        "ks": ks,
        "tests": tests,
        "n_samples": args.n_samples,
        "methods": {method: {} for method in methods},
    }


_TEST_TITLES = {
    "deduction": "deduction: PCR after removing the top-k features (lower = "
    "more faithful)",
    "augmentation": "augmentation: PCR of donors given the top-k features (higher "
    "= more faithful)",
    "synthetic": "synthetic: PCR of the top-k features alone (higher = more faithful)",
}


def format_fidelity(
    tables: dict[str, Any], tests: Sequence[str], ks: Sequence[int], n: int, model: str
) -> str:
    """The fidelity tables as text: one block per test, rows k, columns methods.

    The ``random k`` column is the PCR with k features drawn at random (the same
    draws for every method); ``k = 0`` is the PCR with no feature changed.

    Args:
        tables: method name -> :class:`~torchxai.fidelity.FidelityTable`.
        tests: the tests run.
        ks: the values of k.
        n: the number of explained inputs.
        model: the model's name, for the heading.

    Returns:
        The text, blocks separated by blank lines.
    """
    methods = list(tables)
    first = tables[methods[0]]
    blocks = [f"fidelity of {', '.join(methods)} on {model}, {n} inputs"]
    for test in tests:
        header = f"{'k':>4}" + "".join(f"{m:>10}" for m in methods)
        lines = [_TEST_TITLES[test], header + f"{'random k':>10}"]
        for k in ks:
            row = f"{k:>4}" + "".join(
                f"{tables[m].get(test, k).pcr:>10.3f}" for m in methods
            )
            lines.append(row + f"{first.get(test, k).pcr_random:>10.3f}")
        reference = first.get(test, ks[0]).pcr_reference
        lines.append(f"{'0':>4}{reference:>10.3f}  (no feature changed)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# --- torchxai reproduce ----------------------------------------------------------


@dataclass(frozen=True)
class Reproduction:
    """One experiment of the seed, run by a script of ``scripts/``.

    Attributes:
        script: the file name in ``scripts/``; its ``main(argv)`` is called.
        help: one line for ``torchxai reproduce --help``.
        forwards: the global options the script also takes (``--seed``,
            ``--device``, ``--batch-size``), passed on unless given after the
            experiment's name.
    """

    script: str
    help: str
    forwards: tuple[str, ...] = ("--seed", "--device")


REPRODUCTIONS: dict[str, Reproduction] = {
    "lemna": Reproduction(
        "reproduce_lemna.py", "LEMNA vs LIME fidelity on the RNN and the PDF MLP"
    ),
    "dmm": Reproduction("reproduce_dmm.py", "DMM's global explanation of the PDF MLP"),
    "dmm-men": Reproduction(
        "reproduce_dmm_men.py", "DMM-MEN's explanation of the Fashion-MNIST CNN"
    ),
    "patching": Reproduction(
        "patch_rnn.py",
        "patch the function-start RNN from LEMNA's explanations of its errors",
        ("--seed", "--device", "--batch-size"),
    ),
}
"""``torchxai reproduce NAME``: the experiments and their scripts."""

SOURCE_ROOT = Path(__file__).resolve().parents[1]
"""The source checkout holding ``scripts/`` and ``benchmarks/``."""


def _add_reproduce_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "experiment",
        choices=list(REPRODUCTIONS),
        help="; ".join(f"{name}: {r.help}" for name, r in REPRODUCTIONS.items()),
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, metavar="N", help="passed to the script"
    )
    parser.add_argument(
        "script_args",
        nargs=argparse.REMAINDER,
        metavar="...",
        help="the script's own options (see torchxai reproduce NAME --help)",
    )


def _run_reproduce(args: argparse.Namespace) -> int:
    experiment = REPRODUCTIONS[args.experiment]
    argv = list(args.script_args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    given = {"--seed": args.seed, "--device": args.device}
    given["--batch-size"] = args.batch_size
    for flag in experiment.forwards:
        value = given[flag]
        if value is not None and not any(a.split("=")[0] == flag for a in argv):
            argv += [flag, str(value)]
    module = load_script(SOURCE_ROOT / "scripts" / experiment.script)
    try:
        status = module.main(argv)
    except SystemExit as exc:  # the script's --help or usage error
        return exc.code if isinstance(exc.code, int) else 2
    return status if isinstance(status, int) else 0


def load_script(path: Path) -> Any:
    """Import a script of the source checkout by its path (its ``main`` not run).

    Args:
        path: the ``.py`` file.

    Returns:
        The module.

    Raises:
        InvalidInputError: the file does not exist (an installed package has no
            ``scripts/`` or ``benchmarks/``: run from a source checkout).
    """
    import importlib.util

    if not path.is_file():
        raise InvalidInputError(
            f"{path} not found; this command runs the scripts of a torchxai source "
            "checkout (git clone, then pip install -e .)"
        )
    name = f"torchxai_script_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidInputError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- torchxai bench --------------------------------------------------------------


def _add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only", metavar="NAMES", help="comma-separated benchmarks (default: all)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, to check that all run"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("results/bench"),
        metavar="DIR",
        help="one JSON per benchmark and summary.json (default: results/bench)",
    )
    parser.add_argument(
        "--force", action="store_true", help="re-run benchmarks already done"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the benchmarks and stop"
    )
    _add_data_dir(parser)
    _add_progress(parser)


def _run_bench(args: argparse.Namespace) -> int:
    run_all = load_script(SOURCE_ROOT / "benchmarks" / "run_all.py")
    argv = ["--out-dir", str(args.out_dir), "--seed", str(args.seed)]
    if args.device is not None:
        argv += ["--device", str(args.device)]
    if args.data_dir is not None:
        argv += ["--data-dir", str(args.data_dir)]
    if args.only:
        argv += ["--only", args.only]
    for flag in ("smoke", "force", "list"):
        if getattr(args, flag):
            argv.append(f"--{flag}")
    if _progress(args):
        argv.append("--progress")
    status = run_all.main(argv)
    return status if isinstance(status, int) else 0


SUBCOMMANDS: dict[str, Subcommand] = {
    command.name: command
    for command in (
        Subcommand(
            "download",
            "fetch the public data files and check their SHA-256",
            _add_download_arguments,
            _run_download,
            uses_torch=False,
        ),
        Subcommand(
            "demo",
            "port the seed's three models and print their accuracy",
            _add_demo_arguments,
            _run_demo,
        ),
        Subcommand(
            "explain",
            "explain a model's decisions on inputs from a file or a data set",
            _add_explain_arguments,
            _run_explain,
        ),
        Subcommand(
            "fidelity",
            "compare explanation methods with the fidelity tests (PCR tables)",
            _add_fidelity_arguments,
            _run_fidelity,
        ),
        Subcommand(
            "reproduce",
            "run one experiment of the original papers (a script of scripts/)",
            _add_reproduce_arguments,
            _run_reproduce,
        ),
        Subcommand(
            "bench",
            "run every benchmark of benchmarks/ and write their JSON",
            _add_bench_arguments,
            _run_bench,
        ),
    )
}
"""The command table: name -> :class:`Subcommand`."""


# --- shared pieces ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``torchxai`` with every subcommand of the table."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Explain black-box models with mixture regression "
        "(LEMNA, DMM, DMM-MEN).",
    )
    parser.add_argument("--version", action="version", version=__version__)
    _add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in SUBCOMMANDS.values():
        sub = commands.add_parser(
            command.name, help=command.help, description=command.help
        )
        command.add_arguments(sub)
        _add_global_options(sub, suppress=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``torchxai`` with ``argv`` (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 2 on bad usage or a torchxai error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    command = SUBCOMMANDS[args.command]
    with _log_to_stderr(args.verbose):
        try:
            if command.uses_torch:
                args.device = _prepare_torch(args.seed, args.device)
            return command.run(args)
        except TorchXAIError as exc:
            print(f"{_PROG} {command.name}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{_PROG} {command.name}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # output piped into a command that stopped reading
            sys.stdout = open(os.devnull, "w")  # stops the flush at exit
            return 1


def write_json(path: str | os.PathLike[str], record: Any) -> None:
    """Write ``record`` as JSON atomically; see :func:`torchxai.io.write_json`.

    Imported on call, so that ``torchxai --help`` does not import torch.
    """
    from torchxai.io import write_json as write_json_atomically

    write_json_atomically(path, record)


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--seed``, ``--device``, ``--verbose``; on subparsers without defaults, so a
    value given before the subcommand is kept."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--seed",
        type=int,
        default=default(0),
        help="seed of every random generator (default: 0)",
    )
    group.add_argument(
        "--device",
        default=default(None),
        help="torch device, e.g. cpu or cuda:0 (default: the command's choice)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log more (-v: info, -vv: debug)",
    )


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the data directory (default: $TORCHXAI_DATA, else ~/.cache/torchxai)",
    )


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress bars (default: when stderr is a terminal)",
    )


def _progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _names(text: str, flag: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InvalidInputError(f"{flag} {text!r}: expected comma-separated names")
    return names


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(part) for part in _names(text, flag)]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise InvalidInputError(
            f"{flag} {text!r}: expected comma-separated positive integers"
        )
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _prepare_torch(seed: int, device: str | None) -> Any:
    """Seed python, numpy and torch; return ``device`` as a checked torch.device."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device is None:
        return None
    try:
        checked = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise InvalidInputError(
            f"--device {device!r}: not a torch device; expected e.g. cpu or cuda:0"
        ) from exc
    if checked.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            f"--device {device!r}: CUDA is not available on this machine; use cpu"
        )
    return checked


@contextlib.contextmanager
def _log_to_stderr(verbose: int) -> Iterator[None]:
    """Send torchxai's log records to stderr for the duration of one command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("torchxai")
    previous = logger.level
    logger.setLevel(logging.WARNING - 10 * min(verbose, 2))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


if __name__ == "__main__":
    sys.exit(main())
