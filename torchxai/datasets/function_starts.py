"""Function-start data for the binary-analysis RNN, built from ELF files.

Ground truth follows ByteWeight and the LEMNA seed: a byte of ``.text`` is a
function start when a defined ``STT_FUNC`` symbol of ``.symtab`` points at it.
:func:`read_elf_function_starts` works for any unstripped ELF file, 32- or 64-bit,
executable, shared object or relocatable object, and refuses stripped and non-ELF
files with an error naming the file.

The seed's own train/test pickles (``elf_x86_32_gcc_O1_{train,test}.pkl``) were never
published. :func:`load_function_start_windows` re-derives equivalent data from the 129
ByteWeight gcc -O1 x86-32 binaries: each binary's ``.text`` is cut into
non-overlapping windows of ``window`` bytes from its first byte on, and the last
window is zero-padded (token 0, label 0). How the seed cut its sequences is not
known, so windows here need not coincide with the seed's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from torchxai.datafiles import X86_BINARIES
from torchxai.datafiles import data_dir as resolve_data_dir
from torchxai.datasets._split import check_fraction
from torchxai.datasets._types import ElfText, SequenceDataset
from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

BYTEWEIGHT_FOLDER = "byteweight_elf_x86_32_gcc_O1"
_BYTEWEIGHT_GLOB = "elf/*/gcc_*"


def read_elf_function_starts(path: str | os.PathLike[str]) -> ElfText:
    """Read the ``.text`` bytes of an ELF file and mark where functions start.

    A function start is the ``st_value`` of a ``STT_FUNC`` symbol in ``.symtab``
    whose section is ``.text`` and whose address lies inside it (for relocatable
    objects ``st_value`` is already an offset into the section). On 32-bit ARM the
    Thumb bit (bit 0) is cleared first. Several symbols at one address (aliases)
    give one start.

    Args:
        path: an unstripped ELF file.

    Returns:
        An :class:`ElfText` with ``code`` uint8 (m,), ``is_start`` bool (m,), the
        address of ``.text`` and the path.

    Raises:
        DataFileMissingError: ``path`` does not exist.
        CorruptFileError: ``path`` is not an ELF file or cannot be parsed.
        InvalidInputError: the file has no ``.text``, no ``.symtab`` (stripped) or
            no function symbol inside ``.text``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileMissingError(f"ELF file {path} does not exist or is not a file")
    try:
        with path.open("rb") as handle:
            return _read_text_and_starts(ELFFile(handle), path)
    except ELFError as error:
        raise CorruptFileError(
            f"{path}: not a readable ELF file ({error}); expected an ELF executable, "
            "shared object or object file"
        ) from error
    except (OSError, ValueError, KeyError, IndexError) as error:
        if isinstance(error, (InvalidInputError, CorruptFileError)):
            raise
        raise CorruptFileError(f"{path}: malformed ELF file ({error!r})") from error


def _read_text_and_starts(elf: ELFFile, path: Path) -> ElfText:
    text = elf.get_section_by_name(".text")
    if text is None or text["sh_type"] == "SHT_NOBITS":
        raise InvalidInputError(f"{path}: the ELF file has no .text section with code")
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise InvalidInputError(
            f"{path}: the ELF file has no .symtab (it is stripped), so function "
            "starts cannot be labelled; use an unstripped binary"
        )

    size = path.stat().st_size
    for section in (text, symtab):
        if section["sh_offset"] + section["sh_size"] > size:
            raise CorruptFileError(
                f"{path}: section {section.name} ends at byte "
                f"{section['sh_offset'] + section['sh_size']}, past the end of the "
                f"file ({size} bytes)"
            )
    code = np.frombuffer(text.data(), dtype=np.uint8).copy()
    text_index = elf.get_section_index(".text")
    is_relocatable = elf["e_type"] == "ET_REL"
    base = 0 if is_relocatable else int(text["sh_addr"])
    thumb_mask = ~1 if elf["e_machine"] == "EM_ARM" else ~0

    is_start = np.zeros(code.shape[0], dtype=np.bool_)
    for symbol in symtab.iter_symbols():
        if symbol["st_info"]["type"] != "STT_FUNC" or symbol["st_shndx"] != text_index:
            continue
        offset = (int(symbol["st_value"]) & thumb_mask) - base
        if 0 <= offset < code.shape[0]:
            is_start[offset] = True
    if not is_start.any():
        raise InvalidInputError(
            f"{path}: .symtab has no function (STT_FUNC) symbol inside .text, so "
            "function starts cannot be labelled; use an unstripped binary"
        )
    return ElfText(code=code, is_start=is_start, address=base, path=path)


def windows_from_text(
    code: np.ndarray | torch.Tensor,
    is_start: np.ndarray | torch.Tensor,
    window: int = 200,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a byte sequence and its labels into non-overlapping, padded windows.

    Window ``i`` holds bytes ``i * window .. (i + 1) * window - 1``; the last one is
    zero-padded. Tokens are byte value + 1, so 0 means padding.

    Args:
        code: uint8 (m,) bytes (any integer dtype with values 0..255).
        is_start: bool or 0/1 (m,) labels, True where a function starts.
        window: the window length, a positive integer (at most 1,000,000).

    Returns:
        ``(tokens, labels)``: int64 tensors of shape (ceil(m / window), window);
        tokens in 0..256, labels in {0, 1}, both 0 on padding.

    Raises:
        InvalidInputError: shapes differ, are not 1-D, values are out of range or
            ``window`` is not an integer in 1..1,000,000.
    """
    window = _check_window(window)
    data = torch.as_tensor(np.asarray(code) if not torch.is_tensor(code) else code)
    marks = torch.as_tensor(
        np.asarray(is_start) if not torch.is_tensor(is_start) else is_start
    )
    if data.ndim != 1 or marks.shape != data.shape:
        raise InvalidInputError(
            f"code and is_start must be 1-D of equal length; got shapes "
            f"{tuple(data.shape)} and {tuple(marks.shape)}"
        )
    if data.numel() and (int(data.min()) < 0 or int(data.max()) > 255):
        raise InvalidInputError(
            "code must hold byte values 0..255; got values from "
            f"{int(data.min())} to {int(data.max())}"
        )
    if marks.numel() and not bool(((marks == 0) | (marks == 1)).all()):
        raise InvalidInputError("is_start must hold only 0/1 or False/True values")

    n_windows = math.ceil(data.numel() / window)
    tokens = torch.zeros(n_windows * window, dtype=torch.int64)
    labels = torch.zeros(n_windows * window, dtype=torch.int64)
    tokens[: data.numel()] = data.to(torch.int64) + 1
    labels[: data.numel()] = marks.to(torch.int64)
    return tokens.view(n_windows, window), labels.view(n_windows, window)


_MAX_WINDOW = 1_000_000
"""The largest window length accepted (bytes); larger ones only pad with zeros."""


def _check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InvalidInputError(f"window must be a positive integer; got {window!r}")
    if window > _MAX_WINDOW:
        raise InvalidInputError(
            f"window must be at most {_MAX_WINDOW:,} bytes; got {window:,}"
        )
    return window


def list_byteweight_binaries(
    data_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """The ByteWeight gcc -O1 x86-32 binaries of the data directory, sorted by path.

    Args:
        data_dir: the data directory; defaults to ``$TORCHXAI_DATA``.

    Returns:
        The paths ``<data_dir>/byteweight_elf_x86_32_gcc_O1/elf/*/gcc_*`` (129 in
        the published set).

    Raises:
        DataFileMissingError: the folder is missing or holds no binary.
    """
    folder = resolve_data_dir(data_dir) / BYTEWEIGHT_FOLDER
    paths = sorted(p for p in folder.glob(_BYTEWEIGHT_GLOB) if p.is_file())
    if not paths:
        raise DataFileMissingError(
            f"no ByteWeight binaries found: looked for {folder / _BYTEWEIGHT_GLOB}. "
            f"They are published at {X86_BINARIES.homepage} ({X86_BINARIES.name}); "
            "set TORCHXAI_DATA or pass data_dir= to a directory that holds them."
        )
    return paths


def split_binaries(
    paths: Sequence[str | os.PathLike[str]], test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Split binaries into train and test parts, so no binary is in both.

    The paths are sorted first, so the result does not depend on their order;
    a seeded ``torch.Generator`` permutation then picks
    ``floor(n * test_fraction + 0.5)`` of them (at least 1, at most n - 1) for the
    test part.

    Args:
        paths: two or more distinct binaries.
        test_fraction: the share of binaries in the test part, in (0, 1).
        seed: the generator seed.

    Returns:
        ``(train_paths, test_paths)``, each sorted.

    Raises:
        InvalidInputError: fewer than two distinct paths, or a bad ``test_fraction``.
    """
    fraction = check_fraction(test_fraction)
    unique = sorted({Path(p) for p in paths}, key=str)
    if len(unique) < 2:
        raise InvalidInputError(
            "paths must hold at least two distinct binaries to split; "
            f"got {len(unique)}"
        )
    n_test = min(max(math.floor(len(unique) * fraction + 0.5), 1), len(unique) - 1)
    order = torch.randperm(len(unique), generator=torch.Generator().manual_seed(seed))
    chosen = set(order[:n_test].tolist())
    train = [p for i, p in enumerate(unique) if i not in chosen]
    test = [p for i, p in enumerate(unique) if i in chosen]
    return train, test


def load_function_start_windows(
    paths: Iterable[str | os.PathLike[str]] | None = None,
    window: int = 200,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
) -> SequenceDataset:
    """Read ELF binaries and cut their ``.text`` into labelled windows.

    Args:
        paths: the binaries; defaults to :func:`list_byteweight_binaries`.
        window: the window length in bytes.
        data_dir: the data directory, used when ``paths`` is None.
        progress: show a tqdm progress bar over the binaries.

    Returns:
        A :class:`SequenceDataset`: ``tokens`` and ``labels`` int64
        (w, window) (see :func:`windows_from_text`), ``binary_index`` int64 (w,)
        into ``paths``, which keeps the given order.

    Raises:
        InvalidInputError: no paths, a bad ``window``, or a stripped binary.
        CorruptFileError: a file is not ELF.
    """
    window = _check_window(window)
    files = [Path(p) for p in paths] if paths is not None else None
    if files is None:
        files = list_byteweight_binaries(data_dir)
    if not files:
        raise InvalidInputError("paths is empty; expected at least one ELF file")

    iterator: Iterable[Path] = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, desc="reading ELF files", unit="file")

    tokens, labels, owners = [], [], []
    for index, path in enumerate(iterator):
        text = read_elf_function_starts(path)
        part_tokens, part_labels = windows_from_text(text.code, text.is_start, window)
        tokens.append(part_tokens)
        labels.append(part_labels)
        owners.append(torch.full((part_tokens.shape[0],), index, dtype=torch.int64))
    return SequenceDataset(
        tokens=torch.cat(tokens),
        labels=torch.cat(labels),
        binary_index=torch.cat(owners),
        paths=files,
    )
