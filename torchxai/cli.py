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
import tempfile
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
    """Write ``record`` as JSON atomically (temporary file in the folder, then rename).

    Tensors and numpy values are converted with ``tolist()`` / ``item()``.

    Args:
        path: the output file; its folder is created if needed.
        record: a JSON-serialisable object, possibly holding tensors or numpy values.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, default=_to_json)
            handle.write("\n")
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _to_json(value: Any) -> Any:
    """JSON fallback for tensors, numpy arrays and scalars, and paths."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


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
