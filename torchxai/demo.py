"""The end-to-end demo behind ``make demo`` and ``torchxai demo``.

It checks that the data directory holds what the three ported models need (fetching
missing files when the network or a mirror allows), then ports the seed's Keras
models to torch, loads their data and reports each model's accuracy through
:func:`torchxai.evaluation.evaluate_ported_models`.

Library code: nothing here prints. :func:`format_results` returns the text the
command line shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torchxai.datafiles import ENV_VAR, source_of
from torchxai.datafiles import data_dir as resolve_data_dir
from torchxai.download import (
    MIRROR_ENV_VAR,
    DownloadError,
    RemoteFile,
    download,
    manifest,
    url_for,
)
from torchxai.errors import DataFileMissingError

DEMO_GROUPS: tuple[str, ...] = (
    "keras",
    "contagio",
    "fashion_mnist",
    "byteweight",
    "pdfrate",
)
"""The download groups the demo reads."""

_FASHION_TEST_NPZ = "fashion_mnist/fmnist_test_9680.npz"
_FASHION_TEST_IDX = (
    "fashion_mnist/t10k-images-idx3-ubyte.gz",
    "fashion_mnist/t10k-labels-idx1-ubyte.gz",
)
_LIST_LIMIT = 8


def demo_missing_files(
    data_dir: str | os.PathLike[str] | None = None,
) -> list[RemoteFile]:
    """The files the demo needs that are not in the data directory.

    The demo needs the four Keras models, both contagio CSVs, the 129 ByteWeight
    binaries, the PDFrate attack sets and the Fashion-MNIST test set: either the
    stored npz (``fashion_mnist/fmnist_test_9680.npz``) or the official ``t10k`` IDX
    files, compressed or not (labels also in ``fashion_mnist/official_label_files/``).

    Args:
        data_dir: the data directory; defaults to :func:`torchxai.datafiles.data_dir`.

    Returns:
        Manifest entries to download, in manifest order (only existence is checked;
        ``torchxai download`` also checks the sums).
    """
    root = resolve_data_dir(data_dir)
    has_npz = (root / _FASHION_TEST_NPZ).is_file()
    missing = []
    for entry in manifest(DEMO_GROUPS):
        if entry.group == "fashion_mnist" and (
            has_npz or entry.relative not in _FASHION_TEST_IDX
        ):
            continue
        if not _has_file(root, entry.relative):
            missing.append(entry)
    return missing


def _has_file(root: Path, relative: str) -> bool:
    """True when the file exists; for gzipped IDX files also an uncompressed copy,
    or a copy in ``official_label_files/`` (where the shared data keeps the labels)."""
    path = root / relative
    candidates = [path]
    if path.name.endswith("-ubyte.gz"):
        for folder in (path.parent, path.parent / "official_label_files"):
            candidates += [folder / path.name, folder / path.name[: -len(".gz")]]
    return any(candidate.is_file() for candidate in candidates)


def describe_missing(
    missing: list[RemoteFile],
    data_dir: str | os.PathLike[str],
    *,
    mirror: str | os.PathLike[str] | None = None,
    cause: str | None = None,
) -> str:
    """Say which files are missing, where they are published and how to get them.

    Args:
        missing: the entries that are not in the data directory.
        data_dir: the data directory that was searched.
        mirror: the mirror root that was tried, if any (named in the addresses).
        cause: why downloading failed, added to the first line.

    Returns:
        A multi-line text; the first line is a one-line summary.
    """
    root = resolve_data_dir(data_dir)
    because = f" and could not be downloaded ({cause})" if cause else ""
    lines = [
        f"{len(missing)} data file(s) needed by the demo are missing from "
        f"{root}{because}."
    ]
    for group in dict.fromkeys(e.group for e in missing):
        lines.extend(_describe_group([e for e in missing if e.group == group], mirror))
    lines += [
        "To get them, either:",
        f"  - run `torchxai download --data-dir {root}` where the addresses above "
        f"can be reached (or pass --mirror URL / set {MIRROR_ENV_VAR} to a mirror "
        "root holding the same relative paths), or",
        f"  - point {ENV_VAR} (or --data-dir) at a directory that already holds them.",
    ]
    return "\n".join(lines)


def _describe_group(
    entries: list[RemoteFile], mirror: str | os.PathLike[str] | None
) -> list[str]:
    """The lines of :func:`describe_missing` for one download group."""
    source = source_of(entries[0].relative)
    origin = f" from {source.name}, {source.homepage}" if source else ""
    lines = [f"  group {entries[0].group!r}: {len(entries)} file(s){origin}"]
    for entry in entries[:_LIST_LIMIT]:
        lines.append(f"    {entry.relative}  <-  {url_for(entry, mirror)}")
    if len(entries) > _LIST_LIMIT:
        lines.append(
            f"    ... and {len(entries) - _LIST_LIMIT} more (all listed by "
            f"`torchxai download --dry-run --only {entries[0].group} --data-dir DIR`)"
        )
    return lines


def ensure_demo_data(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool = False,
    fetch: bool = True,
) -> Path:
    """Make sure the demo's files are in the data directory, downloading missing ones.

    Args:
        data_dir: the data directory; defaults to :func:`torchxai.datafiles.data_dir`.
        mirror: a mirror root for the downloads (default ``$TORCHXAI_MIRROR``).
        progress: show a download progress bar.
        fetch: try to download missing files; when False only report them.

    Returns:
        The data directory.

    Raises:
        DataFileMissingError: files are missing and could not be fetched; the
            message is :func:`describe_missing`'s text.
        CorruptFileError: a downloaded file does not match its checksum.
    """
    root = resolve_data_dir(data_dir)
    missing = demo_missing_files(root)
    if not missing:
        return root
    if not fetch:
        raise DataFileMissingError(describe_missing(missing, root, mirror=mirror))
    try:
        download(root, files=missing, mirror=mirror, progress=progress)
    except DownloadError as exc:
        still = demo_missing_files(root)
        cause = f"{exc.url}: {exc.reason}"
        raise DataFileMissingError(
            describe_missing(still, root, mirror=mirror, cause=cause)
        ) from exc
    return root


def run_demo(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    max_binaries: int | None = None,
    max_images: int | None = None,
    device: Any = None,
    progress: bool = False,
    mirror: str | os.PathLike[str] | None = None,
    fetch: bool = True,
) -> dict[str, Any]:
    """Check the data, port the three models and measure their accuracy.

    Args:
        data_dir: the data directory; defaults to :func:`torchxai.datafiles.data_dir`.
        max_binaries: evaluate the RNNs on the first ``max_binaries`` ByteWeight
            binaries only (None: all 129); see the evaluation for the minimum.
        max_images: evaluate the CNN on the first ``max_images`` test images only
            (None: all).
        device: the torch device to run the models on (None: the CPU).
        progress: show progress bars (downloads and evaluation).
        mirror: a mirror root for downloads of missing files.
        fetch: download missing files; when False a missing file is an error.

    Returns:
        The dictionary of :func:`torchxai.evaluation.evaluate_ported_models`.

    Raises:
        InvalidInputError: ``max_binaries`` or ``max_images`` is rejected by the
            evaluation.
        DataFileMissingError: data is missing and could not be fetched.
    """
    root = ensure_demo_data(data_dir, mirror=mirror, progress=progress, fetch=fetch)
    from torchxai.evaluation import evaluate_ported_models

    return evaluate_ported_models(
        data_dir=root,
        progress=progress,
        max_binaries=max_binaries,
        max_images=max_images,
        device=device,
    )


def format_results(results: Mapping[str, Any]) -> str:
    """Render the dictionary of ``evaluate_ported_models`` as a short report.

    Known sections (``pdf_mlp``, ``fashion_cnn``, ``function_start_rnn``,
    ``function_start_rnn_fixed``) get one readable line per figure; any other
    entry, or a section whose layout is not the expected one, is shown as
    indented ``name: value`` lines.

    Args:
        results: the (nested) mapping of figures.

    Returns:
        The text, without a final newline.
    """
    lines: list[str] = []
    for key, value in results.items():
        formatter = _SECTION_FORMATTERS.get(key)
        try:
            section = formatter(value) if formatter is not None else None
        except (KeyError, TypeError, ValueError):
            section = None
        if section is None:
            section = _generic_lines({key: value}, indent=0)
        lines.extend(section)
    return "\n".join(lines)


def _pdf_lines(figures: Mapping[str, Any]) -> list[str]:
    every, split = figures["all_rows"], figures["test_split"]
    return [
        "PDF malware MLP (keras/pdf_mlp.h5), class 1 = malicious",
        f"  accuracy {every['accuracy']:.4f} on all {every['n']:,} contagio rows "
        f"(precision {every['precision']:.4f}, recall {every['recall']:.4f}, "
        f"F1 {every['f1']:.4f})",
        f"  accuracy {split['accuracy']:.4f} on a seeded test split of "
        f"{split['n']:,} rows",
        f"  detection rate {figures['pdfrate_attacks_detection_rate']:.4f} on "
        f"{figures['pdfrate_attacks_n']:,} evasive PDFs (csmutz/pdfrate)",
    ]


def _fashion_lines(figures: Mapping[str, Any]) -> list[str]:
    return [
        "Fashion-MNIST CNN (keras/fashion_mnist_cnn.h5)",
        f"  accuracy {figures['accuracy']:.4f} on {figures['n']:,} test images",
    ]


def _rnn_lines(name: str, figures: Mapping[str, Any]) -> list[str]:
    lines = [f"Function-start RNN (keras/{name}), per byte, class 'function start'"]
    for label, key in (("all windows", "all"), ("test split ", "test_split")):
        part = figures.get(key)
        if part is None:
            continue
        lines.append(
            f"  {label}: precision {part['precision']:.4f}, recall "
            f"{part['recall']:.4f}, F1 {part['f1']:.4f} over {int(part['n']):,} "
            f"bytes of {part['binaries']} binaries"
        )
    return lines


def _settings_lines(settings: Mapping[str, Any]) -> list[str]:
    text = ", ".join(f"{k}={v}" for k, v in settings.items())
    return [f"settings: {text}"]


_SECTION_FORMATTERS: dict[str, Callable[[Any], list[str]]] = {
    "settings": _settings_lines,
    "pdf_mlp": _pdf_lines,
    "fashion_cnn": _fashion_lines,
    "function_start_rnn": lambda f: _rnn_lines("O1_Bi_Rnn.h5", f),
    "function_start_rnn_fixed": lambda f: _rnn_lines("O1_Bi_Rnn_fixed.h5", f),
}


def _generic_lines(values: Mapping[str, Any], indent: int) -> list[str]:
    lines = []
    pad = "  " * indent
    for key, value in values.items():
        if isinstance(value, Mapping):
            lines.append(f"{pad}{key}:")
            lines.extend(_generic_lines(value, indent + 1))
        else:
            lines.append(f"{pad}{key}: {_format_value(value)}")
    return lines


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)
