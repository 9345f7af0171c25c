"""PDFrate / Mimicus PDF malware features: the contagio data and evasive samples.

The CSV files (``contagio/contagio-ben.csv``, ``contagio/contagio-mal.csv`` from
srndic/mimicus, and the attack sets in ``pdfrate_csmutz/`` from csmutz/pdfrate) share
one header: ``class``, ``filename``, then the 135 features of :data:`FEATURE_NAMES`.
``class`` is ``TRUE`` for malicious and ``FALSE`` for benign; two feature columns
(``box_other_only``, ``pdfid_mismatch``) hold ``TRUE``/``FALSE`` literals, read as
1/0. The ported MLP was trained on binarized features (:func:`binarize`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from torchxai.datafiles import require
from torchxai.datasets._types import TabularDataset
from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

CONTAGIO_FILES: tuple[str, str] = (
    "contagio/contagio-ben.csv",
    "contagio/contagio-mal.csv",
)

PDFRATE_ATTACKS: tuple[str, ...] = (
    "evademl_best",
    "mimicus_FC_mimicry",
    "mimicus_FTC_mimicry",
    "mimicus_FT_gdkde",
    "mimicus_FT_mimicry",
    "mimicus_F_gdkde",
    "mimicus_F_mimicry",
    "parser_confusion",
    "parser_confusion_and_reverse_mimicry",
    "reverse_mimicry_EXEembed",
    "reverse_mimicry_JSinject",
    "reverse_mimicry_PDFembed",
)
"""The attack sets of csmutz/pdfrate, stored as ``pdfrate_csmutz/<name>.csv``."""

FEATURE_NAMES: tuple[str, ...] = tuple(
    """
    author_dot author_lc author_len author_mismatch author_num author_oth author_uc
    box_nonother_types box_other_only company_mismatch count_acroform count_acroform_obs
    count_action count_action_obs count_box_a4 count_box_legal count_box_letter
    count_box_other count_box_overlap count_endobj count_endstream count_eof count_font
    count_font_obs count_image_large count_image_med count_image_small count_image_total
    count_image_xlarge count_image_xsmall count_javascript count_javascript_obs count_js
    count_js_obs count_obj count_objstm count_objstm_obs count_page count_page_obs
    count_startxref count_stream count_stream_diff count_trailer count_xref
    createdate_dot createdate_mismatch createdate_ts createdate_tz
    createdate_version_ratio creator_dot creator_lc creator_len creator_mismatch
    creator_num creator_oth creator_uc delta_ts delta_tz image_mismatch image_totalpx
    keywords_dot keywords_lc keywords_len keywords_mismatch keywords_num keywords_oth
    keywords_uc len_obj_avg len_obj_max len_obj_min len_stream_avg len_stream_max
    len_stream_min moddate_dot moddate_mismatch moddate_ts moddate_tz
    moddate_version_ratio pdfid0_dot pdfid0_lc pdfid0_len pdfid0_mismatch pdfid0_num
    pdfid0_oth pdfid0_uc pdfid1_dot pdfid1_lc pdfid1_len pdfid1_mismatch pdfid1_num
    pdfid1_oth pdfid1_uc pdfid_mismatch pos_acroform_avg pos_acroform_max
    pos_acroform_min pos_box_avg pos_box_max pos_box_min pos_eof_avg pos_eof_max
    pos_eof_min pos_image_avg pos_image_max pos_image_min pos_page_avg pos_page_max
    pos_page_min producer_dot producer_lc producer_len producer_mismatch producer_num
    producer_oth producer_uc ratio_imagepx_size ratio_size_obj ratio_size_page
    ratio_size_stream size subject_dot subject_lc subject_len subject_mismatch
    subject_num subject_oth subject_uc title_dot title_lc title_len title_mismatch
    title_num title_oth title_uc version
    """.split()
)
"""The 135 feature columns, in file order."""

HEADER: tuple[str, ...] = ("class", "filename", *FEATURE_NAMES)
_BOOLEANS = {"TRUE": 1.0, "FALSE": 0.0}


def read_pdfrate_csv(
    path: str | os.PathLike[str], *, dtype: torch.dtype = torch.float32
) -> TabularDataset:
    """Read one PDFrate/Mimicus feature CSV.

    Args:
        path: the CSV file; its header must be :data:`HEADER`.
        dtype: the floating dtype of ``features``. With float32, large integer
            features (time stamps near 1.3e9) are rounded to the nearest
            representable value (steps of 128); binarized features are exact.

    Returns:
        A :class:`TabularDataset` with ``features`` (n, 135) in file order,
        ``labels`` 1 where ``class`` is ``TRUE``.

    Raises:
        DataFileMissingError: ``path`` does not exist or is not a file.
        CorruptFileError: the file is not UTF-8 text or not CSV, the header differs
            from :data:`HEADER` (the message names
            the file and the first differing column), or a row has the wrong number
            of fields, an unknown class, or a value that is not a number or
            ``TRUE``/``FALSE`` (the message names the file, line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileMissingError(
            f"PDFrate feature CSV {path} does not exist or is not a file"
        )
    labels: list[int] = []
    filenames: list[str] = []
    rows: list[list[float]] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            _check_header(path, next(reader, None))
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                labels.append(_parse_class(path, line, row))
                filenames.append(row[1])
                rows.append(_parse_features(path, line, row))
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); expected a "
            "PDFrate/Mimicus feature CSV"
        ) from exc
    except csv.Error as exc:
        raise CorruptFileError(f"{path}: not a readable CSV file ({exc})") from exc

    features = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))
    return TabularDataset(
        features=torch.as_tensor(features).to(dtype),
        labels=torch.tensor(labels, dtype=torch.int64),
        feature_names=list(FEATURE_NAMES),
        filenames=filenames,
        source=[path],
    )


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise CorruptFileError(f"{path}: the file is empty; expected a CSV header")
    for position, expected in enumerate(HEADER):
        got = header[position] if position < len(header) else None
        if got != expected:
            raise CorruptFileError(
                f"{path}: header column {position} is {got!r}, expected {expected!r} "
                f"(a PDFrate/Mimicus feature CSV has {len(HEADER)} columns: class, "
                "filename, then the 135 features)"
            )
    if len(header) != len(HEADER):
        raise CorruptFileError(
            f"{path}: the header has {len(header)} columns, expected {len(HEADER)}; "
            f"extra column {header[len(HEADER)]!r}"
        )


def _parse_class(path: Path, line: int, row: list[str]) -> int:
    if len(row) != len(HEADER):
        raise CorruptFileError(
            f"{path}, line {line}: {len(row)} fields, expected {len(HEADER)}"
        )
    if row[0] not in _BOOLEANS:
        raise CorruptFileError(
            f"{path}, line {line}: column 'class' is {row[0]!r}, expected TRUE or FALSE"
        )
    return int(_BOOLEANS[row[0]])


def _parse_features(path: Path, line: int, row: list[str]) -> list[float]:
    values = []
    for name, text in zip(FEATURE_NAMES, row[2:], strict=True):
        if text in _BOOLEANS:
            values.append(_BOOLEANS[text])
            continue
        try:
            values.append(float(text))
        except ValueError:
            raise CorruptFileError(
                f"{path}, line {line}: column {name!r} is {text!r}, expected a "
                "number or TRUE/FALSE"
            ) from None
    return values


def _concatenate(parts: list[TabularDataset]) -> TabularDataset:
    return TabularDataset(
        features=torch.cat([p.features for p in parts]),
        labels=torch.cat([p.labels for p in parts]),
        feature_names=list(FEATURE_NAMES),
        filenames=[name for p in parts for name in p.filenames],
        source=[s for p in parts for s in p.source],
    )


def load_contagio(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
) -> TabularDataset:
    """Load the contagio PDF features: 5,000 benign rows, then 4,999 malicious.

    Args:
        data_dir: the data directory; defaults to ``$TORCHXAI_DATA``
            (see :func:`torchxai.datafiles.data_dir`).
        dtype: the floating dtype of ``features`` (see :func:`read_pdfrate_csv`).

    Returns:
        A :class:`TabularDataset` of 9,999 rows: ``features`` (9999, 135) raw values,
        ``labels`` (9999,) with 1 = malicious.

    Raises:
        DataFileMissingError: a CSV is not in the data directory.
        CorruptFileError: a CSV does not have the expected header or values.
    """
    parts = [
        read_pdfrate_csv(require(f, data_dir), dtype=dtype) for f in CONTAGIO_FILES
    ]
    return _concatenate(parts)


def load_pdfrate_attacks(
    name: str = "all",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    dtype: torch.dtype = torch.float32,
) -> TabularDataset:
    """Load evasive malicious PDFs of csmutz/pdfrate (every row has label 1).

    Args:
        name: one of :data:`PDFRATE_ATTACKS`, or ``"all"`` for the 1,397 rows of all
            twelve sets, concatenated in the order of :data:`PDFRATE_ATTACKS`.
        data_dir: the data directory; defaults to ``$TORCHXAI_DATA``.
        dtype: the floating dtype of ``features``.

    Returns:
        A :class:`TabularDataset` with ``features`` (n, 135) raw values.

    Raises:
        InvalidInputError: ``name`` is not a known attack set.
        DataFileMissingError: the CSV is not in the data directory.
    """
    if name == "all":
        names = list(PDFRATE_ATTACKS)
    elif name in PDFRATE_ATTACKS:
        names = [name]
    else:
        raise InvalidInputError(
            f"name must be 'all' or one of {', '.join(PDFRATE_ATTACKS)}; got {name!r}"
        )
    paths = [require(f"pdfrate_csmutz/{n}.csv", data_dir) for n in names]
    return _concatenate([read_pdfrate_csv(p, dtype=dtype) for p in paths])


def binarize(features: torch.Tensor) -> torch.Tensor:
    """Map every nonzero feature to 1 and zeros to 0, as the ported MLP expects.

    Args:
        features: (..., p) numeric tensor.

    Returns:
        A tensor of the same shape, floating (the input's dtype if floating, else
        float32), with values in {0, 1}.
    """
    if not isinstance(features, torch.Tensor):
        raise InvalidInputError(
            f"features must be a torch.Tensor; got {type(features).__name__}"
        )
    dtype = features.dtype if features.dtype.is_floating_point else torch.float32
    return (features != 0).to(dtype)
