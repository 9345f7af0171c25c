"""Fetch the public files of the original work into the data directory.

Every file torchxai reads (the seed's Keras models, the contagio features, the
ByteWeight binaries, the PDFrate attack sets, Fashion-MNIST) is published by a
public repository. The manifest below names each file by its path inside the data
directory, its address and its checksums; :func:`download` fetches the files that
are missing and checks them.

Downloads are atomic (written to a temporary file beside the target, checked, then
renamed) and resumable (a file already present whose checksums match is skipped).
The address root can be replaced by a mirror (argument ``mirror`` or environment
variable ``TORCHXAI_MIRROR``): the file's relative path is appended to the mirror
root, so a mirror is any web or file tree laid out like the data directory.

Deviation from the local reference copy: the data directory shared with the project
holds Fashion-MNIST as an npz converted from a third-party repository (9,680 of the
official test images). The download fetches instead the four official gzipped IDX
files from Zalando's published location. Their MD5 sums are published (Zalando's
README, torchvision); SHA-256 sums are embedded only for the two label files, whose
official copies are in the shared directory. The image files are checked by MD5 and
by their IDX structure (magic number, dimensions, length), not by SHA-256.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import math
import os
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any

from torchxai.datafiles import data_dir as resolve_data_dir
from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

logger = logging.getLogger(__name__)

MIRROR_ENV_VAR = "TORCHXAI_MIRROR"

GROUPS: tuple[str, ...] = (
    "keras",
    "contagio",
    "fashion_mnist",
    "byteweight",
    "pdfrate",
)
"""The download groups, in manifest order."""

_ALIASES = {
    "fashion": "fashion_mnist",
    "fashion-mnist": "fashion_mnist",
    "byteweight_elf_x86_32_gcc_o1": "byteweight",
    "elf": "byteweight",
    "pdfrate_csmutz": "pdfrate",
}

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
"""Zalando's published location of the official Fashion-MNIST files."""

_CHUNK = 1 << 20
_USER_AGENT = "torchxai-download/0.1"


class DownloadError(DataFileMissingError):
    """A data file could not be fetched (network failure, HTTP error, truncated body).

    A subclass of :class:`~torchxai.errors.DataFileMissingError`: after the failure,
    the file is still missing.

    Attributes:
        relative: the file's path inside the data directory.
        url: the address that failed.
        reason: what went wrong, e.g. ``"HTTP 404 Not Found"``.
    """

    def __init__(self, relative: str, url: str, reason: str) -> None:
        self.relative = relative
        self.url = url
        self.reason = reason
        super().__init__(
            f"could not download {relative} from {url}: {reason}. Check the network "
            f"connection, or fetch from a mirror with --mirror URL or "
            f"{MIRROR_ENV_VAR}=URL (a root holding the same relative paths)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.relative, self.url, self.reason))


@dataclass(frozen=True)
class RemoteFile:
    """One public file of the manifest.

    Attributes:
        relative: its path inside the data directory, e.g. ``"keras/pdf_mlp.h5"``.
        url: the address it is published at.
        group: the download group (one of :data:`GROUPS`).
        sha256: expected SHA-256 (hex), or None where no sum is known.
        size: expected size in bytes, or None where unknown.
        md5: expected MD5 (hex), where the publisher gives one.
        idx_shape: for gzipped IDX files (Fashion-MNIST), the array shape the
            decompressed file must hold, e.g. ``(10000, 28, 28)``.
    """

    relative: str
    url: str
    group: str
    sha256: str | None
    size: int | None
    md5: str | None = None
    idx_shape: tuple[int, ...] | None = None


@dataclass
class DownloadReport:
    """What :func:`download` did.

    Attributes:
        data_dir: the directory the files were written to.
        fetched: relative paths downloaded in this call.
        present: relative paths that were already there with matching checksums.
        bytes_fetched: total bytes downloaded.
    """

    data_dir: Path
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes_fetched: int = 0


@dataclass(frozen=True)
class _Origin:
    """A public repository and the listing of the files taken from it."""

    group: str
    url_root: str
    local_prefix: str
    keep_tree: bool
    listing: str


def parse_groups(only: str | Iterable[str] | None) -> tuple[str, ...]:
    """Turn a group selection into canonical group names, in manifest order.

    Args:
        only: None for every group, a comma-separated string (``"keras,contagio"``)
            or an iterable of names. Folder names (``"pdfrate_csmutz"``) are
            accepted as aliases.

    Returns:
        The selected names from :data:`GROUPS`.

    Raises:
        InvalidInputError: a name is unknown, or the selection is empty.
    """
    if only is None:
        return GROUPS
    names = only.split(",") if isinstance(only, str) else list(only)
    chosen = set()
    for raw in names:
        name = raw.strip().lower()
        name = _ALIASES.get(name, name)
        if name not in GROUPS:
            raise InvalidInputError(
                f"only={only!r}: unknown download group {raw.strip()!r}; "
                f"expected a comma-separated subset of {', '.join(GROUPS)}"
            )
        chosen.add(name)
    if not chosen:
        raise InvalidInputError(
            f"only={only!r}: no download group given; expected a comma-separated "
            f"subset of {', '.join(GROUPS)}"
        )
    return tuple(g for g in GROUPS if g in chosen)


def manifest(only: str | Iterable[str] | None = None) -> list[RemoteFile]:
    """The public files torchxai can download.

    Args:
        only: the groups to list (see :func:`parse_groups`); None lists all.

    Returns:
        The manifest entries of those groups, in a fixed order.
    """
    groups = parse_groups(only)
    return [entry for entry in _full_manifest() if entry.group in groups]


def mirror_root(mirror: str | os.PathLike[str] | None = None) -> str | None:
    """The mirror root to use: ``mirror``, else ``$TORCHXAI_MIRROR``, else None.

    Args:
        mirror: a URL (``http://host/data``, ``file:///srv/data``) or a local
            directory, which is turned into a ``file://`` URL.

    Returns:
        The root URL without a trailing slash, or None for the public addresses.
    """
    chosen = os.fspath(mirror) if mirror is not None else os.environ.get(MIRROR_ENV_VAR)
    if not chosen:
        return None
    if "://" not in chosen:
        chosen = Path(chosen).expanduser().resolve().as_uri()
    return chosen.rstrip("/")


def url_for(entry: RemoteFile, mirror: str | os.PathLike[str] | None = None) -> str:
    """The address to fetch ``entry`` from: its public URL, or its path under a mirror.

    Args:
        entry: a manifest entry.
        mirror: a mirror root (see :func:`mirror_root`); None uses the environment
            variable, and the public address when that is unset.
    """
    root = mirror_root(mirror)
    if root is None:
        return entry.url
    return f"{root}/{urllib.parse.quote(entry.relative)}"


def verify(path: str | os.PathLike[str], entry: RemoteFile) -> None:
    """Check a file against every sum the manifest knows for it.

    Args:
        path: the file on disk.
        entry: its manifest entry.

    Raises:
        CorruptFileError: size, SHA-256, MD5 or IDX structure differ; the message
            names the file, the expected and the actual value.
    """
    _check_digests(entry, _hash_file(Path(path)), where=str(path))
    _check_idx(Path(path), entry, where=str(path))


def is_valid(path: str | os.PathLike[str], entry: RemoteFile) -> bool:
    """True when ``path`` is a file that passes :func:`verify`."""
    if not Path(path).is_file():
        return False
    try:
        verify(path, entry)
    except CorruptFileError:
        return False
    return True


def missing_files(
    data_dir: str | os.PathLike[str] | None = None,
    only: str | Iterable[str] | None = None,
    *,
    check_sums: bool = False,
) -> list[RemoteFile]:
    """The manifest entries whose file is not in the data directory.

    Args:
        data_dir: the data directory; defaults to :func:`torchxai.datafiles.data_dir`.
        only: the groups to check (see :func:`parse_groups`).
        check_sums: also count files that exist but fail :func:`verify`.

    Returns:
        The entries to fetch, in manifest order.
    """
    root = resolve_data_dir(data_dir)
    test = is_valid if check_sums else (lambda path, _entry: Path(path).is_file())
    return [e for e in manifest(only) if not test(root / e.relative, e)]


def download(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    only: str | Iterable[str] | None = None,
    files: Iterable[str | RemoteFile] | None = None,
    mirror: str | os.PathLike[str] | None = None,
    progress: bool = False,
    timeout: float = 60.0,
) -> DownloadReport:
    """Fetch missing or damaged files of the manifest into the data directory.

    Files already present with matching checksums are skipped; others are written
    to a temporary file in the target's folder, checked, then renamed into place,
    so an interrupted or failed download never leaves a partial file behind.

    Args:
        data_dir: where to write; defaults to :func:`torchxai.datafiles.data_dir`.
        only: the groups to fetch (see :func:`parse_groups`); None fetches all.
        files: instead of groups, the files to fetch: relative paths of the
            manifest or :class:`RemoteFile` entries. Not together with ``only``.
        mirror: a mirror root replacing the public addresses (see
            :func:`mirror_root`); defaults to ``$TORCHXAI_MIRROR``.
        progress: show a tqdm progress bar (bytes) on stderr.
        timeout: seconds to wait for the server on each connection or read.

    Returns:
        A :class:`DownloadReport` listing fetched and already present files.

    Raises:
        InvalidInputError: unknown group or file, both ``only`` and ``files``,
            a non-positive timeout, or a data directory that cannot be written.
        DownloadError: a file could not be fetched; names its URL and the reason.
        CorruptFileError: a fetched file does not match its checksum; names the
            file, the expected and the actual sum. Nothing is left on disk.
    """
    if not timeout > 0:
        raise InvalidInputError(f"timeout={timeout!r}: expected a positive number")
    entries = _select(only, files)
    root = resolve_data_dir(data_dir)
    report = DownloadReport(data_dir=root)
    todo = [e for e in entries if not _already_present(root / e.relative, e)]
    report.present = [e.relative for e in entries if e not in todo]
    if todo:
        _make_dir(root)
    bar = _progress_bar(todo) if progress else None
    try:
        for entry in todo:
            url = url_for(entry, mirror)
            if bar is not None:
                bar.set_postfix_str(entry.relative, refresh=False)
            report.bytes_fetched += _fetch(
                entry, root / entry.relative, url, timeout, bar
            )
            report.fetched.append(entry.relative)
            logger.info("fetched %s from %s", entry.relative, url)
    finally:
        if bar is not None:
            bar.close()
    return report


def _select(
    only: str | Iterable[str] | None, files: Iterable[str | RemoteFile] | None
) -> list[RemoteFile]:
    """The entries a call of :func:`download` asks for."""
    if files is None:
        return manifest(only)
    if only is not None:
        raise InvalidInputError(
            f"only={only!r} and files=...: give either groups or files, not both"
        )
    by_path = {e.relative: e for e in _full_manifest()}
    entries = []
    for item in files:
        if isinstance(item, RemoteFile):
            entries.append(item)
        elif item in by_path:
            entries.append(by_path[item])
        else:
            raise InvalidInputError(
                f"files: {item!r} is not in the download manifest; expected a "
                "relative path such as 'keras/pdf_mlp.h5' (see torchxai.download."
                "manifest())"
            )
    return entries


def _already_present(path: Path, entry: RemoteFile) -> bool:
    """True when ``path`` holds a good copy; a damaged copy is logged and replaced."""
    if not path.is_file():
        return False
    try:
        verify(path, entry)
    except CorruptFileError as exc:
        logger.warning("%s; fetching it again", exc)
        return False
    return True


def _make_dir(root: Path) -> None:
    """Create the data directory, or say why it cannot be."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"data_dir={str(root)!r}: cannot create the data directory "
            f"({exc.strerror or exc}); pass a writable directory"
        ) from exc


def _progress_bar(todo: list[RemoteFile]) -> Any:
    """A tqdm bar over the bytes to fetch (unknown sizes are added as they arrive)."""
    from tqdm.auto import tqdm

    total = sum(e.size or 0 for e in todo)
    return tqdm(
        total=total or None,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="torchxai download",
    )


def _fetch(entry: RemoteFile, target: Path, url: str, timeout: float, bar: Any) -> int:
    """Download ``url`` to ``target`` atomically; return the number of bytes."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as exc:
        raise InvalidInputError(
            f"data_dir: cannot write {entry.relative} into {target.parent} "
            f"({exc.strerror or exc}); pass a writable data directory"
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digests = _stream(entry, url, out, timeout, bar)
            out.flush()
            os.fsync(out.fileno())
        where = f"{entry.relative} downloaded from {url} (discarded)"
        _check_digests(entry, digests, where=where)
        _check_idx(tmp, entry, where=where)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digests.size


def _stream(
    entry: RemoteFile, url: str, out: IO[bytes], timeout: float, bar: Any
) -> _Digests:
    """Copy the body of ``url`` into ``out`` while hashing it."""
    digests = _Digests()
    response = _open(entry, url, timeout)
    with response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if bar is not None and entry.size is None and expected is not None:
            bar.total = (bar.total or 0) + expected
            bar.refresh()
        while chunk := _read(entry, url, response):
            out.write(chunk)
            digests.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
    if expected is not None and digests.size != expected:
        reason = f"the connection closed after {digests.size} of {expected} bytes"
        raise DownloadError(entry.relative, url, reason)
    return digests


def _open(entry: RemoteFile, url: str, timeout: float) -> Any:
    """Open ``url``; network failures become :class:`DownloadError` naming the URL."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        reason = f"HTTP {exc.code} {exc.reason}"
        raise DownloadError(entry.relative, url, reason) from exc
    except urllib.error.URLError as exc:
        raise DownloadError(entry.relative, url, _reason(exc.reason)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(entry.relative, url, _reason(exc)) from exc


def _read(entry: RemoteFile, url: str, response: Any) -> bytes:
    """Read the next chunk of a response; failures become :class:`DownloadError`."""
    try:
        return bytes(response.read(_CHUNK))
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(entry.relative, url, _reason(exc)) from exc


def _reason(exc: object) -> str:
    """A short text for a low-level network error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _Digests:
    """Running SHA-256, MD5 and size of a byte stream."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)


def _hash_file(path: Path) -> _Digests:
    """The digests of a file on disk."""
    digests = _Digests()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digests.update(chunk)
    return digests


def _check_digests(entry: RemoteFile, digests: _Digests, *, where: str) -> None:
    """Raise :class:`CorruptFileError` when a known size or sum differs."""
    checks = (
        (
            "size",
            str(entry.size) if entry.size is not None else None,
            str(digests.size),
        ),
        ("SHA-256", entry.sha256, digests.sha256.hexdigest()),
        ("MD5", entry.md5, digests.md5.hexdigest()),
    )
    for name, expected, actual in checks:
        if expected is not None and expected != actual:
            raise CorruptFileError(
                f"{where}: {name} mismatch: expected {expected}, got {actual}"
            )


def _check_idx(path: Path, entry: RemoteFile, *, where: str) -> None:
    """Check a gzipped IDX file's magic number, dimensions and length."""
    if entry.idx_shape is None:
        return
    shape = entry.idx_shape
    expected_header = struct.pack(f">BBBB{len(shape)}I", 0, 0, 0x08, len(shape), *shape)
    try:
        with gzip.open(path, "rb") as handle:
            header = handle.read(len(expected_header))
            body = 0
            while chunk := handle.read(_CHUNK):
                body += len(chunk)
    except (OSError, EOFError) as exc:
        raise CorruptFileError(f"{where}: not a readable gzip file ({exc})") from exc
    if header != expected_header or body != math.prod(shape):
        raise CorruptFileError(
            f"{where}: IDX content mismatch: expected a uint8 array of shape {shape} "
            f"(header {expected_header.hex()}, {math.prod(shape)} bytes of data), got "
            f"header {header.hex()} and {body} bytes of data"
        )


@cache
def _full_manifest() -> tuple[RemoteFile, ...]:
    """Every entry, built once from the listings at the end of this module."""
    entries: list[RemoteFile] = []
    for origin in _ORIGINS:
        if origin.group == "fashion_mnist":
            entries.extend(_FASHION_MNIST)
        for line in origin.listing.split("\n"):
            if line.strip():
                entries.append(_entry_from_line(origin, line))
    return tuple(entries)


def _entry_from_line(origin: _Origin, line: str) -> RemoteFile:
    """Parse one ``<sha256> <size> <path in the repository>`` listing line."""
    sha256, size, remote = line.split(" ", 2)
    local = remote if origin.keep_tree else remote.rsplit("/", 1)[-1]
    return RemoteFile(
        relative=origin.local_prefix + local,
        url=origin.url_root + urllib.parse.quote(remote),
        group=origin.group,
        sha256=sha256,
        size=int(size),
    )


def _fashion(
    name: str,
    md5: str,
    shape: tuple[int, ...],
    sha256: str | None = None,
    size: int | None = None,
) -> RemoteFile:
    """A Fashion-MNIST entry: the official gzipped IDX file ``name``."""
    return RemoteFile(
        relative=f"fashion_mnist/{name}",
        url=FASHION_MNIST_URL + name,
        group="fashion_mnist",
        sha256=sha256,
        size=size,
        md5=md5,
        idx_shape=shape,
    )


# MD5 sums as published by Zalando (fashion-mnist README) and used by torchvision;
# SHA-256 and sizes of the label files from the official copies in the shared data.
_FASHION_MNIST = (
    _fashion(
        "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        (60000, 28, 28),
    ),
    _fashion(
        "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
        (60000,),
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        29515,
    ),
    _fashion(
        "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", (10000, 28, 28)
    ),
    _fashion(
        "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
        (10000,),
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        5148,
    ),
)

# Listings: "<sha256> <size in bytes> <path in the repository at the given commit>".
_KERAS_LISTING = """
fea8215f67d70f416193bd112780e9e377fae6dcd5b5080d3f7cfd1685eb8a49 85576 lemna/model/O1_Bi_Rnn.h5
8b4a8e73cef7619eb152fe886896a6504765cda636db38b60c7f15b70c936192 89472 lemna/results/O1_Bi_Rnn_fixed.h5
b22841482c8851ec7eedff822d845d0b1e556af288a9bcc2b4684be05c503dd5 692544 dmm-mem/model/fashion_mnist_cnn.h5
4f751578e1cc0a69360aa4871d64981b909b7e4ac2554efdb7ced33f022625c6 262224 dmm/model/pdf_mlp.h5
"""  # noqa: E501

_CONTAGIO_LISTING = """
e4a3fd61befd8ff826bd5dd3be90f75096c5587a42461e15e47a45a51434cc85 3075001 data/contagio-ben.csv
eeb74383650488bc8359dd400ef40855f8492864c0462fe5017d9fa1b2036ffc 2847446 data/contagio-mal.csv
"""  # noqa: E501

_PDFRATE_LISTING = """
8f65dfb32188113d22aebab29ab53af2afe61305d36040a84dad6af36e6e6e48 331814 data/evademl_best.csv
ecefde4299661060208574336aaa4dd27d79e2e14bedd85978837859edff882e 70836 data/mimicus_FC_mimicry.csv
caf14c13da2c4ce1799ad7f3085bf4574bfd5907055af5a43ee465ec5e904859 66486 data/mimicus_FTC_mimicry.csv
c4cf5c5d2b4b49d3834bebf38a84c2553da5e8c2aebb00dddceec71dc1656a11 70682 data/mimicus_FT_gdkde.csv
eadcb3d0e559b9aae6c0f5a39d454ae2853c1ee515defd5ccde01fb8a40f777b 63863 data/mimicus_FT_mimicry.csv
6e4f100b10f3caa271aa5e84d83b99f416bb8d070655d6520bec3c2b4d88728b 70650 data/mimicus_F_gdkde.csv
fc299a2454091e06ca46c24b0688951d613429361288e8a58883ed6e1530dbcc 63869 data/mimicus_F_mimicry.csv
25a885a516f5d69fa7a6c830c0a43a4be75ed4b8fe47b63fbefbc4a4f60ff965 2378 data/parser_confusion.csv
091cf7ee1ae9a20a6de5b9b17a51ef20d19d212eb47d5f978292f47ad307ec4b 2417 data/parser_confusion_and_reverse_mimicry.csv
47a70fce082d449541c3e6989bc1d426ca41cb671f9972e476f9a4ef9f85dff8 63967 data/reverse_mimicry_EXEembed.csv
b5bdd74ee6b3c8fc01f14d346ec3d87e82e01614db23d988d351c88e2afc7a9e 60618 data/reverse_mimicry_JSinject.csv
0fa5a9ef42b83cdf998f0179b9489600dcc5ae7872d113b07e569656495f35ce 59899 data/reverse_mimicry_PDFembed.csv
"""  # noqa: E501

_BYTEWEIGHT_LISTING = """
90f547701d603b159616fd4ec6f5601e29c0f2c042090e118b3b69d4ab7638c2 2376340 elf/binutils/gcc_binutils_32_O1_addr2line
c3fa4e504471aee4e78bd70ddcfbc543ad892c384cea005b6bb6f20df32499ac 2451945 elf/binutils/gcc_binutils_32_O1_ar
46967501221ce4149ba1c19cddef530722da32531c0415636baae88f015618cc 3402605 elf/binutils/gcc_binutils_32_O1_as-new
4c463866083ffb1479665ff99207a54ab70c2fa738fa7836bd547f17882110f9 2367218 elf/binutils/gcc_binutils_32_O1_cxxfilt
a3f546ede287a8c0e336d758c6b9831af473f74a676370a380aef96c6481cba8 69893 elf/binutils/gcc_binutils_32_O1_elfedit
09ac1a9690a6659314ef4f9833c2cc66e64ce21168483f29d6c7bf2d586783cd 2556444 elf/binutils/gcc_binutils_32_O1_gprof
56102643e450180eb8c51c4dfeb00459e77a9fe6c83792eb596bd2ee8b33c779 3604512 elf/binutils/gcc_binutils_32_O1_ld-new
3091ff71967fde669ef726b7ef2936c5cca230c93953de88e660c58a6b4ae9ee 2403089 elf/binutils/gcc_binutils_32_O1_nm-new
4bf0bc6d4f659c59f2c846fc3b554a77fc1287cac95683c902de3cdf82c3f6e4 2915298 elf/binutils/gcc_binutils_32_O1_objcopy
664b271e078ab7fca1c77f939228868751ee184a379b6bf97b72cb72f00fbe13 3507589 elf/binutils/gcc_binutils_32_O1_objdump
7ef0716fdb9fbb2bb1f81bb3d859cb5c0ce6b86489c83cbfe39d48ceab6ba0ba 2451944 elf/binutils/gcc_binutils_32_O1_ranlib
845f8c0f52624821aa870c22e453f43dd9363839aec7d20e18549730f7bfd13d 891295 elf/binutils/gcc_binutils_32_O1_readelf
21cb138e5ba9ed73fb20d1dd519ed4af31f103b778ddd4dd0308fc48fa5d39e6 2380258 elf/binutils/gcc_binutils_32_O1_size
8d65fbf4e334106a5c029bc15490f19ec89c25bf2e0070425082544c05e80c5b 2376628 elf/binutils/gcc_binutils_32_O1_strings
ad8674f65142be52d7c2041b748babff29fd395479a2a3e22f021fc3a9284155 2915293 elf/binutils/gcc_binutils_32_O1_strip-new
da2951eb2beae1c4e1a2a4e209d25911135b100d1a2b20764db47bf9d1ea8cb5 44713 elf/binutils/gcc_binutils_32_O1_sysinfo
2338276e775be18bd3f0781931020e727517f0d95c2a03caa9589371f0c809d9 122015 elf/coreutils/gcc_coreutils_32_O1_[
719c2d5438e3b84cabcd178ce9f48890d05357ed6e7d13f6ccfb0eade5417458 127766 elf/coreutils/gcc_coreutils_32_O1_base64
d84d594aa3bfa63934f8ab9a61486753fae08e8df711bd6c1b0a89368bd6bcb6 108434 elf/coreutils/gcc_coreutils_32_O1_basename
318c498ee9f9b4eebe1c615c7ff06ae672049c2f0fa781602b9a2eeaab6fff56 183249 elf/coreutils/gcc_coreutils_32_O1_cat
aebd32c8f4075549bb53b66e930c6f7a3a7b662ae4abb82bc5c5782d6681f3cc 224773 elf/coreutils/gcc_coreutils_32_O1_chcon
93f490debe640ae8a847721f36b877845b2bdeff90c9aca5371818b110333e46 208177 elf/coreutils/gcc_coreutils_32_O1_chgrp
6a8440c534733887c8e13944f338a751dad563e856681011f6ae7905b911659d 198673 elf/coreutils/gcc_coreutils_32_O1_chmod
d6312aa744e4e61ae59c18d03e431f6a761d8e39aac45f2f578ecb3cff73732c 215685 elf/coreutils/gcc_coreutils_32_O1_chown
b7dcef73157f22bed1b4ce5e6f0855253c5d49f8c7718ae723dba2bd150586ef 121993 elf/coreutils/gcc_coreutils_32_O1_chroot
b4011d43959b3fc13df6b3cdc5378301cd41323a9cdf92690c8140a1fc5a8821 113369 elf/coreutils/gcc_coreutils_32_O1_cksum
500cad27f9b7f0e3c1872182ad6e6238a0310f3e3f0ffda65206448aaf83bc79 128051 elf/coreutils/gcc_coreutils_32_O1_comm
6098a9a4c47d318c56ec1954fa10e4c3d4a30e59b2acc12854c18b4c041ebdc2 420650 elf/coreutils/gcc_coreutils_32_O1_cp
0e4904f32ffb0b15ee1c9fa64c1b1404ae81a690ce9c029f827719221fbeb7ef 365129 elf/coreutils/gcc_coreutils_32_O1_csplit
a180c170fde1b1126f5ade9385ff7566c01488a90c3caa6c2a1e4f6448d72c44 160041 elf/coreutils/gcc_coreutils_32_O1_cut
301117228ea0f05266c3f62bb9e794078c1367d713a79e67fdb8d03e3d1e4b1b 208514 elf/coreutils/gcc_coreutils_32_O1_date
d6ebb77cd5284163ea99f1336db03ff99635a8383aaded142b09751b942504a4 196218 elf/coreutils/gcc_coreutils_32_O1_dd
bfb0f5904ec7e732e5930c116b53a4f430885e526badb671c2541a3716f1480a 385910 elf/coreutils/gcc_coreutils_32_O1_df
2167a1657ba446d4d03f5f53a7c4a2cea3707b2978f70b832c3e2f79c809ec69 364118 elf/coreutils/gcc_coreutils_32_O1_dir
5c2799c1f504cf6c6079bd175368cc9faf5b2650eea0ef587b71c0998e55ab43 126263 elf/coreutils/gcc_coreutils_32_O1_dircolors
0f3150926b15861620c89976a1d56d0160b27d9a7150978d5df038eee4d37410 105718 elf/coreutils/gcc_coreutils_32_O1_dirname
4bb8a49c6631c221fddb1f9609677b58af17c83efb190ff6d226562d48f97110 375642 elf/coreutils/gcc_coreutils_32_O1_du
efdcbb774c6e0c7c1f055eedefc2c8b5d221504f6659d5e29aec9bc757896c2c 91677 elf/coreutils/gcc_coreutils_32_O1_echo
574527a2bcf52a11cd69fe416e66db83b995d1efea0a294a60cab1e3448c28d5 106122 elf/coreutils/gcc_coreutils_32_O1_env
63540f98aa5d1f83552c835197bc1e9b9480470f6375539c14512859a416a583 115665 elf/coreutils/gcc_coreutils_32_O1_expand
96efb575700bf639aa7cec4066c958b685fef7d950e03ceb2a903ff39cece2a6 332379 elf/coreutils/gcc_coreutils_32_O1_expr
f235a79d009154673a8aa181a4e49ccede1a14e4f8f3106b8b6cd7ae00a69a07 349558 elf/coreutils/gcc_coreutils_32_O1_factor
38807877dd1d2a37653c7639de9213137ebd0cb209738d3f1579787eaf10b599 86228 elf/coreutils/gcc_coreutils_32_O1_false
54a7f60e08a3399b5a61505cd11cf833b6a79adb9eba8a65d30febfd7372c199 127110 elf/coreutils/gcc_coreutils_32_O1_fmt
0a25ceedcba1c82fe06e70f03f02fff35ef808e084a76565e6da75531fd21f8a 116174 elf/coreutils/gcc_coreutils_32_O1_fold
629a3746835e61843b9ce1b19dfb8cd2dfd04991bc0b3873f418a8dff08590fe 176689 elf/coreutils/gcc_coreutils_32_O1_getlimits
04b9f1c56e356e397e8ebfdd835deadb1230c74b210bc7cb11e5015b8d393829 458835 elf/coreutils/gcc_coreutils_32_O1_ginstall
0ad1a1d296028af91b6ba623405e5d9ff5307bdd00fec0326f418d14c1526bd5 116660 elf/coreutils/gcc_coreutils_32_O1_groups
7d46ce88fb7053f25c181ba1ea6862c21aca1f883e9c7c8947166fe0e7b4e710 144267 elf/coreutils/gcc_coreutils_32_O1_head
ed939f2f216f653b86abdfabaa57e8f2c54a46abd0446a05efa1b067721dce6e 104041 elf/coreutils/gcc_coreutils_32_O1_hostid
06f2e08d0041f91a993cfd3039561a84eba832d3566ef0a7a46fae1c807c13bb 125282 elf/coreutils/gcc_coreutils_32_O1_id
a684024577530babde99f1360e294f326c3b5d3f59d7f4c04251be25a226d19e 154149 elf/coreutils/gcc_coreutils_32_O1_join
e68dffdb765b8d8f85e6f49ca7712153e973a3ed31d06089dc21a1da6a58399e 117410 elf/coreutils/gcc_coreutils_32_O1_kill
8a29eee7152926f46b1b9d92494448b9bf573382207c136a772989a5c50e02f5 104714 elf/coreutils/gcc_coreutils_32_O1_link
3351882f83dc95b1c70917d152855e1bd4a0b6e61280b753540ad4ab6b0a2e66 217423 elf/coreutils/gcc_coreutils_32_O1_ln
eff2399fada47cd25f48f7b6ff1de6d7c1883a4d678f49126719cb43da817991 104337 elf/coreutils/gcc_coreutils_32_O1_logname
fc16e6cad6a532a6cb5f306ebb74a63a63a948003884f330e74195753c665c1a 364117 elf/coreutils/gcc_coreutils_32_O1_ls
83da04a4ad2f26db10e03c193438b80ab5a29ade859e594b463a8306ed84a015 17181 elf/coreutils/gcc_coreutils_32_O1_make-prime-list
ccdb9eef2949b4c39cadae12dd1a97b1aee0bd1184952b52b6cd6d9e4687902e 141453 elf/coreutils/gcc_coreutils_32_O1_md5sum
165e741d230a864605f6ef005131ed2541c5dee9720812d15eca1b3d38ed121d 205269 elf/coreutils/gcc_coreutils_32_O1_mkdir
e21473c8525234848981c8ea38b5909daa9bbceaf778253d45cba4a4437f75b2 113474 elf/coreutils/gcc_coreutils_32_O1_mkfifo
530f4caed955b4b74a11f98d9336b2cf439ed435fcbf2e5418749a3df3f3520e 123817 elf/coreutils/gcc_coreutils_32_O1_mknod
c9ec85b90495345ce23932cee77555a635410b2060820f697e41368bee40aca5 153587 elf/coreutils/gcc_coreutils_32_O1_mktemp
37db82417087fddda09352c4e0fe5f599a08daf44ba2a0ebbea4ae922890bb4d 404758 elf/coreutils/gcc_coreutils_32_O1_mv
bcfe3836ce1227ac2c58d737992ca720ce48d832de465c62917c5fff520f571a 112375 elf/coreutils/gcc_coreutils_32_O1_nice
64df072fcc9f5a88bd4bfaccbad66b411ef34cb077b135509d0736ada0371d8e 338713 elf/coreutils/gcc_coreutils_32_O1_nl
a75b3403634f31b297217ede4f62ad36ce17ff46acb836635a5fe68c7c707410 119435 elf/coreutils/gcc_coreutils_32_O1_nohup
3a53339bec7054207e9ddfbeb5d76fb231d6b3150179b5c61b07c5548fa31825 117077 elf/coreutils/gcc_coreutils_32_O1_nproc
9be38e7b49dd50be406cea1327f4fe2774e850d5351c2657cc42ebebda29b23a 237003 elf/coreutils/gcc_coreutils_32_O1_numfmt
89cb2cfa066cf5eb72ebe76b85e84dc10cbe35df618226cea1a62f6aa91b5ef9 241888 elf/coreutils/gcc_coreutils_32_O1_od
78cd74446717ea455f29a4dce8fdee3ad719bb768be7533a6e152f3aca47636f 115890 elf/coreutils/gcc_coreutils_32_O1_paste
45f0d40c6488bf1622f559f18d4e5ba86f81003c064eaa7d700d7436746f927d 111701 elf/coreutils/gcc_coreutils_32_O1_pathchk
212f984c12f28b89afd589b4cfc333bb26763c89aa575dc7db603292eafad880 133918 elf/coreutils/gcc_coreutils_32_O1_pinky
eb23bc0aca1a5c4de8cf4be57b71bcbf97419c04070e0e22b659a4f6b01f2e45 202401 elf/coreutils/gcc_coreutils_32_O1_pr
687cd2d2519fb8e448f628663a70438da49ae11c071cea8e8c2fb36260732d00 104192 elf/coreutils/gcc_coreutils_32_O1_printenv
22724bfe826c0ac82d2a58d5d3ffb6e902496404d83ec2f4665659b1e888c527 181886 elf/coreutils/gcc_coreutils_32_O1_printf
26ace7c45e8d67d0312cff92218c784f4699650978a86b928af3fcc1f21cba6d 424062 elf/coreutils/gcc_coreutils_32_O1_ptx
4ada14ace91e5fd6a6b7bcdf5d157bc4f4486ea4304fd306714fe9cab0fc67c9 127676 elf/coreutils/gcc_coreutils_32_O1_pwd
b5a0f278c3dfe2e16160665fba01c5bb08eb877b9033e852c40db7e8a3cb5774 159571 elf/coreutils/gcc_coreutils_32_O1_readlink
48329d5e11d53a096b23d388a7382a2c1e4b8ad6c67a3e069677f4b17f8047f1 228145 elf/coreutils/gcc_coreutils_32_O1_realpath
ce7cbba9c7ed63fc07e285eb6a01e913450932af7c129cbd7f2d3a8b95cc71f2 214395 elf/coreutils/gcc_coreutils_32_O1_rm
ed3b8779b5251ac778110c67bbeac56eecb864f79a4c9b804dd4a9cf3169e2c1 174295 elf/coreutils/gcc_coreutils_32_O1_rmdir
0521825777712d5898279b3ce0bb01cf053d9a9ab27e326577a233d10cf9452d 113905 elf/coreutils/gcc_coreutils_32_O1_runcon
28f2f44415ded92ee694415c7eef37f4f1f2b092157fa8a50a5d6b37149e8c91 190295 elf/coreutils/gcc_coreutils_32_O1_seq
37ecbfc0bb8afac4fc977d04ba3ba779c4acdba38ad95abd63c39e6314bcecf2 120464 elf/coreutils/gcc_coreutils_32_O1_setuidgid
6232b734cc350bcdb251f91e5b2245da863a353ebd2c0e85cf6420bc6662773c 146301 elf/coreutils/gcc_coreutils_32_O1_sha1sum
58f2996e61f7246c1b067650e6d35c95e070facaf095223544257f29a9b2a8c1 167827 elf/coreutils/gcc_coreutils_32_O1_sha224sum
84217e136808cd05698eed7c12954da9225fae21631564ad6406af4d1c0c8d07 167827 elf/coreutils/gcc_coreutils_32_O1_sha256sum
5fa32e59048c2586a27cf3985d15685db0ef94c7eef0cc1aa1eae1df2d00c953 202055 elf/coreutils/gcc_coreutils_32_O1_sha384sum
44e1c8cbd7c6c2dac8f31ced1b1fca139a7a5a5fe8c969eaa319935c65c56e9e 202055 elf/coreutils/gcc_coreutils_32_O1_sha512sum
7fa5a2d49a6b7ca86c477fbaa41d7de6d4ac92107140ddca66d4b99e7baf3d52 194758 elf/coreutils/gcc_coreutils_32_O1_shred
84bc0ca55e7e745752e7eee400a48a545bb7a8f0e8ac1eea97fca655943edf41 184271 elf/coreutils/gcc_coreutils_32_O1_shuf
977559280de91345cbac8948373d4cde7b32bd216f1d1df3311e18228e2db907 111524 elf/coreutils/gcc_coreutils_32_O1_sleep
72168bcbeace5d2d34f553337c98e74167c2c79e0321b4265a480e7e178d1606 353121 elf/coreutils/gcc_coreutils_32_O1_sort
67e87652d75f8a435fd011accd1b2e75aa9dbba0a4157794271f81247324b2d8 241752 elf/coreutils/gcc_coreutils_32_O1_split
013fea36273e8663a7e1bcc749230569b36a4e48cba206e62c2df04aa8de0117 286822 elf/coreutils/gcc_coreutils_32_O1_stat
955de6cc983606aa458546e45872c1bcc135de02ce36e231d98c362c61ff3fcf 256885 elf/coreutils/gcc_coreutils_32_O1_stdbuf
6c46b3421882e27a451f599178d6f62405cfb9d3bc92facb028810462673a9e1 222893 elf/coreutils/gcc_coreutils_32_O1_stty
2241d32558fc0a74dfde0626659532b4c98ca006910225bc8e34fa3547c7439a 137273 elf/coreutils/gcc_coreutils_32_O1_sum
dc32e95f180609f32b93f51a2d9d5f78c7023526aa5ab8f16054d665cd8c287f 103854 elf/coreutils/gcc_coreutils_32_O1_sync
cbf5a37ed00fb288798073eda10ff63773ea204bb1f832b79decc73e8f3307f5 331656 elf/coreutils/gcc_coreutils_32_O1_tac
d3f81b58f03a90932ff3e6e7a31cacda7a6c51944e525aad6638ad4eeda7c9c3 215983 elf/coreutils/gcc_coreutils_32_O1_tail
76d9c357c718582837feae94b998c162b38b183c680dca9305eb0aafda215e0b 113849 elf/coreutils/gcc_coreutils_32_O1_tee
6beebbe3cb4eb0137b7b0aa10e3294298c385004474a2d5eaf3f12316b6c31eb 111178 elf/coreutils/gcc_coreutils_32_O1_test
20ad8abdde3b14a508ba1820ebb34becd17cb4827adce812f1964df46ab2821f 190029 elf/coreutils/gcc_coreutils_32_O1_timeout
a53470bcd75de40037cb19f1e78ed39410a6f2afcd79a521fb6a4b4f921acb96 221047 elf/coreutils/gcc_coreutils_32_O1_touch
db66439c4ef22f13b4096caefe68a6c3f698f896ad7cf6313e7cae9cda628ef6 153783 elf/coreutils/gcc_coreutils_32_O1_tr
c85bcbfcc0465a122d64bb1e0bdf4161c65a128124b154e5fadc1f8f8119e526 86227 elf/coreutils/gcc_coreutils_32_O1_true
6031bc3d52355f0ada537dd1aa82630654c4209fedc75bcfbdad8f8697ec56f9 182772 elf/coreutils/gcc_coreutils_32_O1_truncate
d6e7c0a8bc7433a6522180844477604b7a7c8ee3cf6aabf779ead7b027bf148d 128577 elf/coreutils/gcc_coreutils_32_O1_tsort
d1c5b04282d9bfc7decb36a3cf9243c3b2087231c7dc077a670bd390bfc7333e 103187 elf/coreutils/gcc_coreutils_32_O1_tty
2d20bae9ecb11cd9534cbbf5469bd987ae0a311c84c5778641b449d5f66ad698 106977 elf/coreutils/gcc_coreutils_32_O1_uname
ab8c3c0c2e5c83e725c4f2235203cb7a6c081fc59b21bc6512267cb86f43cfee 118205 elf/coreutils/gcc_coreutils_32_O1_unexpand
aed2a7707c328ef6391afc72e4113bb10c1c865d49c18d2db05e6831d0105670 144882 elf/coreutils/gcc_coreutils_32_O1_uniq
cfe27cf4d544d049da30c46543d11abd6e86654b44449aba37c92c7c2004796a 104410 elf/coreutils/gcc_coreutils_32_O1_unlink
89e8a49e55288d23866220d3cbdbca2dd1315f90acf9cac2e8be8a2f0a92526a 146450 elf/coreutils/gcc_coreutils_32_O1_uptime
daabe95264d973a5aadca361040b40870443a33cea1b49447773d224396f425c 112216 elf/coreutils/gcc_coreutils_32_O1_users
cdecb7e64f66422d35b525e21ac6c3645fd03d3fa09e60aac0d09bfdb15c4ccf 364123 elf/coreutils/gcc_coreutils_32_O1_vdir
9118db8070a9c3d14bdb0b4ea1eda1521f9f88635ce1f51cfc4356f3704ce1f6 150881 elf/coreutils/gcc_coreutils_32_O1_wc
68d397803105693959e70e79585b12b98459ad34b5c148150384a19de17510fb 200252 elf/coreutils/gcc_coreutils_32_O1_who
f3b53012174b42059df4c33492be2686fe9204b98210944bee10c6a77d931f77 105099 elf/coreutils/gcc_coreutils_32_O1_whoami
bdad438875d6a703da934639a5a3b6d9e3295c9c9fa639b897abe7534a4d45dc 104539 elf/coreutils/gcc_coreutils_32_O1_yes
957ced3f32bfb13d41df9224c4f4f1d8428d7c483fc684f8bb05e4d828d9a7c3 37930 elf/findutils/gcc_findutils_32_O1_bigram
051ee981a7dae5724f43e69714efa114866b392e0b1c0ea4f141ed9501e30ce9 54424 elf/findutils/gcc_findutils_32_O1_code
9fd235dffb9826bafd1c74450ea9b69cda1648db25d289add67c0ccb935279b8 492032 elf/findutils/gcc_findutils_32_O1_find
6054caba525c632f097628bc90cb5bf95e58a1a6110ee0cb441ef600b5b732b2 51038 elf/findutils/gcc_findutils_32_O1_frcode
a72d59858c4dbe3e2a6bb80f0401455f1d3129c640fae8d36dfc21d886febc15 184511 elf/findutils/gcc_findutils_32_O1_locate
9d4c0a4118b4da91b7d0e835224721888637620f918f2e3c2020f2c7413e79fe 499101 elf/findutils/gcc_findutils_32_O1_oldfind
4323beaae892e39edc583792aee39b036da44946c9f3c64bc5443785a7e73742 117861 elf/findutils/gcc_findutils_32_O1_xargs
"""  # noqa: E501

_ORIGINS = (
    _Origin(
        "keras",
        "https://github.com/Henrygwb/Explaining-DL/raw/b443f7f/",
        "keras/",
        False,
        _KERAS_LISTING,
    ),
    _Origin(
        "contagio",
        "https://github.com/srndic/mimicus/raw/12a4e82/",
        "contagio/",
        False,
        _CONTAGIO_LISTING,
    ),
    _Origin("fashion_mnist", FASHION_MNIST_URL, "fashion_mnist/", False, ""),
    _Origin(
        "byteweight",
        "https://github.com/tiffanyb/x86-binaries/raw/"
        "83b7eb3fb0764240bf0201c9ea778c9561b6477b/",
        "byteweight_elf_x86_32_gcc_O1/",
        True,
        _BYTEWEIGHT_LISTING,
    ),
    _Origin(
        "pdfrate",
        "https://github.com/csmutz/pdfrate/raw/"
        "ab5ba94f0fa73099efdcdeb98c82b45d3525e950/",
        "pdfrate_csmutz/",
        False,
        _PDFRATE_LISTING,
    ),
)
