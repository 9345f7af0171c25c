"""Where torchxai finds the data of the original work, and what each file is.

The data directory is taken from the ``TORCHXAI_DATA`` environment variable and
defaults to ``$XDG_CACHE_HOME/torchxai`` (``~/.cache/torchxai``). Inside it, files
keep the relative paths of the public sources (``keras/pdf_mlp.h5``,
``contagio/contagio-mal.csv``, ...). Nothing here is shipped with the package: a
missing file raises :class:`~torchxai.errors.DataFileMissingError` naming the file,
where it was looked for and where it is published.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torchxai.errors import DataFileMissingError

ENV_VAR = "TORCHXAI_DATA"


@dataclass(frozen=True)
class Source:
    """A public repository that publishes some of the data files."""

    name: str
    homepage: str


EXPLAINING_DL = Source(
    "Henrygwb/Explaining-DL (commit b443f7f)",
    "https://github.com/Henrygwb/Explaining-DL",
)
MIMICUS = Source("srndic/mimicus (commit 12a4e82)", "https://github.com/srndic/mimicus")
X86_BINARIES = Source(
    "tiffanyb/x86-binaries (commit 83b7eb3)", "https://github.com/tiffanyb/x86-binaries"
)
FASHION_MNIST = Source(
    "zalandoresearch/fashion-mnist", "https://github.com/zalandoresearch/fashion-mnist"
)
PDFRATE = Source("csmutz/pdfrate", "https://github.com/csmutz/pdfrate")

_SOURCE_BY_FOLDER = {
    "keras": EXPLAINING_DL,
    "contagio": MIMICUS,
    "byteweight_elf_x86_32_gcc_O1": X86_BINARIES,
    "fashion_mnist": FASHION_MNIST,
    "pdfrate_csmutz": PDFRATE,
}


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory: ``override``, else ``$TORCHXAI_DATA``, else the cache.

    Args:
        override: an explicit directory; wins over the environment variable.
    """
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "torchxai"


def source_of(relative: str) -> Source | None:
    """The public source of a data file, from the first folder of its relative path."""
    return _SOURCE_BY_FOLDER.get(Path(relative).parts[0])


def require(relative: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Return the path of a data file, or raise if it is not there.

    Args:
        relative: the file's path inside the data directory, for example
            ``"keras/pdf_mlp.h5"``.
        root: the data directory; defaults to :func:`data_dir`.

    Raises:
        DataFileMissingError: the file does not exist; the message names the file,
            the directory searched and the public source, and how to fetch it.
    """
    base = data_dir(root)
    path = base / relative
    if path.is_file():
        return path
    source = source_of(relative)
    where = f" It is published at {source.homepage} ({source.name})." if source else ""
    origin = "the argument" if root else f"{ENV_VAR} or the default cache"
    raise DataFileMissingError(
        f"data file {relative!r} not found: looked for {path} "
        f"(data directory from {origin})."
        f"{where} Run `torchxai download` to fetch it, or set {ENV_VAR} to a directory "
        "that holds it."
    )
