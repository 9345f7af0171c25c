"""The download step, against a local HTTP server serving the shared data directory.

The expected sums come from the ``SHA256SUMS`` / ``MD5SUMS`` files of the shared data
(written when the data was collected) and from ``hashlib`` on the served bytes, never
from the manifest under test.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import pickle
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from torchxai.download import (
    GROUPS,
    MIRROR_ENV_VAR,
    DownloadError,
    RemoteFile,
    download,
    manifest,
    missing_files,
    parse_groups,
    url_for,
    verify,
)
from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

SMALL_FILES = [
    "keras/O1_Bi_Rnn.h5",
    "pdfrate_csmutz/parser_confusion.csv",
    "byteweight_elf_x86_32_gcc_O1/elf/coreutils/gcc_coreutils_32_O1_make-prime-list",
]
BRACKET = "byteweight_elf_x86_32_gcc_O1/elf/coreutils/gcc_coreutils_32_O1_["
FASHION_LABELS = "fashion_mnist/t10k-labels-idx1-ubyte.gz"


class _Handler(SimpleHTTPRequestHandler):
    """Serves a directory quietly and records the paths asked for."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()


class LocalServer:
    """``http.server`` on 127.0.0.1, a free port, in a thread."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_Handler, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.requests: list[str] = []
        self.httpd.requests = self.requests  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def serve() -> Iterator[object]:
    """A factory: ``serve(directory)`` starts a server, closed after the test."""
    servers: list[LocalServer] = []

    def start(directory: Path) -> LocalServer:
        servers.append(LocalServer(directory))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def shared_sums(root: Path, folder: str, name: str = "SHA256SUMS") -> dict[str, str]:
    """``relative path -> sum`` from a sums file of the shared data."""
    sums = {}
    for line in (root / folder / name).read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        path = path.removeprefix("./")
        if path != "SOURCE.txt":
            sums[f"{folder}/{path}"] = digest
    return sums


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


# --- the manifest ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "folder", "count"),
    [
        ("keras", "keras", 4),
        ("contagio", "contagio", 2),
        ("byteweight", "byteweight_elf_x86_32_gcc_O1", 129),
        ("pdfrate", "pdfrate_csmutz", 12),
    ],
)
def test_manifest_matches_the_shared_checksums_and_sizes(
    data_root: Path, group: str, folder: str, count: int
) -> None:
    expected = shared_sums(data_root, folder)
    entries = manifest(group)
    assert len(entries) == count == len(expected)
    assert {e.relative: e.sha256 for e in entries} == expected
    for entry in entries:
        assert entry.size == (data_root / entry.relative).stat().st_size
        assert entry.url.startswith("https://github.com/")
        assert "/raw/" in entry.url


def test_manifest_urls_follow_the_public_repositories() -> None:
    urls = {e.relative: e.url for e in manifest()}
    explaining = "https://github.com/Henrygwb/Explaining-DL/raw/b443f7f/"
    assert urls["keras/pdf_mlp.h5"] == explaining + "dmm/model/pdf_mlp.h5"
    assert urls["keras/fashion_mnist_cnn.h5"] == (
        explaining + "dmm-mem/model/fashion_mnist_cnn.h5"
    )
    assert urls["keras/O1_Bi_Rnn_fixed.h5"] == (
        explaining + "lemna/results/O1_Bi_Rnn_fixed.h5"
    )
    assert urls["contagio/contagio-mal.csv"] == (
        "https://github.com/srndic/mimicus/raw/12a4e82/data/contagio-mal.csv"
    )
    assert urls[BRACKET] == (
        "https://github.com/tiffanyb/x86-binaries/raw/"
        "83b7eb3fb0764240bf0201c9ea778c9561b6477b/elf/coreutils/gcc_coreutils_32_O1_%5B"
    )
    assert urls[FASHION_LABELS] == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
        "t10k-labels-idx1-ubyte.gz"
    )


def test_fashion_mnist_entries_carry_the_official_sums(data_root: Path) -> None:
    sha = shared_sums(data_root, "fashion_mnist")
    md5 = shared_sums(data_root, "fashion_mnist", "MD5SUMS")
    entries = {e.relative: e for e in manifest("fashion")}
    assert len(entries) == 4
    for split in ("train", "t10k"):
        labels = entries[f"fashion_mnist/{split}-labels-idx1-ubyte.gz"]
        official = f"fashion_mnist/official_label_files/{split}-labels-idx1-ubyte.gz"
        assert labels.sha256 == sha[official]
        assert labels.md5 == md5[official]
        images = entries[f"fashion_mnist/{split}-images-idx3-ubyte.gz"]
        assert images.sha256 is None and len(images.md5 or "") == 32
        assert images.idx_shape == (labels.idx_shape or (0,))[:1] + (28, 28)


def test_parse_groups_accepts_aliases_and_rejects_unknown_names() -> None:
    assert parse_groups(None) == GROUPS
    assert parse_groups("pdfrate_csmutz, Keras") == ("keras", "pdfrate")
    assert parse_groups(["fashion", "elf"]) == ("fashion_mnist", "byteweight")
    with pytest.raises(InvalidInputError, match="'nope'.*keras, contagio"):
        parse_groups("keras,nope")
    with pytest.raises(InvalidInputError, match="only=''"):
        parse_groups("")


def test_url_for_maps_the_relative_path_onto_a_mirror(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entry = next(e for e in manifest("byteweight") if e.relative == BRACKET)
    monkeypatch.delenv(MIRROR_ENV_VAR, raising=False)
    assert url_for(entry) == entry.url
    assert url_for(entry, "http://mirror.example/root/") == (
        "http://mirror.example/root/" + BRACKET.replace("[", "%5B")
    )
    monkeypatch.setenv(MIRROR_ENV_VAR, "http://env.example")
    assert url_for(entry).startswith("http://env.example/byteweight_elf_x86_32")
    assert url_for(entry, tmp_path) == (tmp_path.as_uri() + "/" + BRACKET).replace(
        "[", "%5B"
    )


# --- downloads -------------------------------------------------------------------


def test_download_fetches_and_verifies_files(
    data_root: Path, tmp_path: Path, serve
) -> None:
    server = serve(data_root)
    target = tmp_path / "data"
    report = download(target, files=SMALL_FILES, mirror=server.url)

    assert report.fetched == SMALL_FILES and report.present == []
    assert sorted(server.requests) == sorted("/" + f for f in SMALL_FILES)
    expected = {}
    for folder in ("keras", "pdfrate_csmutz", "byteweight_elf_x86_32_gcc_O1"):
        expected.update(shared_sums(data_root, folder))
    for relative in SMALL_FILES:
        written = (target / relative).read_bytes()
        assert written == (data_root / relative).read_bytes()
        assert hashlib.sha256(written).hexdigest() == expected[relative]
    assert report.bytes_fetched == sum(
        (data_root / f).stat().st_size for f in SMALL_FILES
    )
    assert files_under(target) == sorted(target / f for f in SMALL_FILES)


def test_download_skips_good_files_and_replaces_damaged_ones(
    data_root: Path, tmp_path: Path, serve
) -> None:
    server = serve(data_root)
    download(tmp_path, files=SMALL_FILES, mirror=server.url)
    server.requests.clear()

    again = download(tmp_path, files=SMALL_FILES, mirror=server.url)
    assert again.fetched == [] and again.present == SMALL_FILES
    assert server.requests == []

    damaged = tmp_path / SMALL_FILES[1]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    assert [e.relative for e in missing_files(tmp_path, "pdfrate")] != []
    assert SMALL_FILES[1] in [
        e.relative for e in missing_files(tmp_path, "pdfrate", check_sums=True)
    ]
    repaired = download(tmp_path, files=SMALL_FILES, mirror=server.url)
    assert repaired.fetched == [SMALL_FILES[1]]
    assert server.requests == ["/" + SMALL_FILES[1]]
    assert damaged.read_bytes() == (data_root / SMALL_FILES[1]).read_bytes()


def test_checksum_mismatch_raises_and_leaves_nothing_behind(
    data_root: Path, tmp_path: Path, serve
) -> None:
    relative = "keras/O1_Bi_Rnn.h5"
    content = bytearray((data_root / relative).read_bytes())
    content[1000] ^= 0xFF
    mirror = tmp_path / "mirror"
    (mirror / "keras").mkdir(parents=True)
    (mirror / relative).write_bytes(bytes(content))
    server = serve(mirror)
    target = tmp_path / "data"

    with pytest.raises(CorruptFileError) as caught:
        download(target, files=[relative], mirror=server.url)
    message = str(caught.value)
    assert relative in message
    assert shared_sums(data_root, "keras")[relative] in message
    assert hashlib.sha256(bytes(content)).hexdigest() in message
    assert files_under(target) == []


def test_truncated_file_reports_the_size(
    data_root: Path, tmp_path: Path, serve
) -> None:
    relative = SMALL_FILES[1]
    mirror = tmp_path / "mirror"
    (mirror / relative).parent.mkdir(parents=True)
    (mirror / relative).write_bytes((data_root / relative).read_bytes()[:100])
    server = serve(mirror)
    expected_size = (data_root / relative).stat().st_size
    with pytest.raises(
        CorruptFileError, match=f"size mismatch: expected {expected_size}, got 100"
    ):
        download(tmp_path / "data", files=[relative], mirror=server.url)
    assert files_under(tmp_path / "data") == []


def test_unreachable_server_raises_an_error_naming_the_url(tmp_path: Path) -> None:
    mirror = closed_port_url()
    with pytest.raises(DownloadError) as caught:
        download(tmp_path, files=SMALL_FILES[:1], mirror=mirror, timeout=5)
    error = caught.value
    assert isinstance(error, DataFileMissingError)
    assert f"{mirror}/{SMALL_FILES[0]}" in str(error)
    assert error.url == f"{mirror}/{SMALL_FILES[0]}"
    assert files_under(tmp_path) == []
    assert pickle.loads(pickle.dumps(error)).url == error.url


def test_file_absent_on_the_mirror_reports_http_404(tmp_path: Path, serve) -> None:
    (tmp_path / "empty").mkdir()
    server = serve(tmp_path / "empty")
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        download(tmp_path / "data", files=SMALL_FILES[:1], mirror=server.url)
    assert f"{server.url}/{SMALL_FILES[0]}" in str(caught.value)


def test_mirror_from_the_environment_and_from_a_local_directory(
    data_root: Path, tmp_path: Path, serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(data_root)
    monkeypatch.setenv(MIRROR_ENV_VAR, server.url)
    report = download(tmp_path / "web", files=[BRACKET])
    assert report.fetched == [BRACKET]
    assert server.requests == ["/" + BRACKET.replace("[", "%5B")]

    monkeypatch.delenv(MIRROR_ENV_VAR)
    local = download(tmp_path / "local", files=[SMALL_FILES[1]], mirror=data_root)
    assert local.fetched == [SMALL_FILES[1]]
    assert (tmp_path / "local" / SMALL_FILES[1]).read_bytes() == (
        data_root / SMALL_FILES[1]
    ).read_bytes()


def test_fashion_mnist_label_file_is_checked_by_sha256_md5_and_idx(
    data_root: Path, tmp_path: Path, serve
) -> None:
    official = (
        data_root / "fashion_mnist/official_label_files/t10k-labels-idx1-ubyte.gz"
    )
    mirror = tmp_path / "mirror"
    (mirror / "fashion_mnist").mkdir(parents=True)
    (mirror / FASHION_LABELS).write_bytes(official.read_bytes())
    server = serve(mirror)

    report = download(tmp_path / "data", files=[FASHION_LABELS], mirror=server.url)
    assert report.fetched == [FASHION_LABELS]
    written = (tmp_path / "data" / FASHION_LABELS).read_bytes()
    md5 = shared_sums(data_root, "fashion_mnist", "MD5SUMS")
    key = "fashion_mnist/official_label_files/t10k-labels-idx1-ubyte.gz"
    assert hashlib.md5(written, usedforsecurity=False).hexdigest() == md5[key]
    with gzip.open(tmp_path / "data" / FASHION_LABELS) as handle:
        assert struct.unpack(">4BI", handle.read(8)) == (0, 0, 8, 1, 10000)


def idx_gz(shape: tuple[int, ...], claimed: tuple[int, ...] | None = None) -> bytes:
    """A gzipped IDX uint8 file of zeros with data for ``shape``; header ``claimed``."""
    header_shape = claimed or shape
    header = struct.pack(
        f">4B{len(header_shape)}I", 0, 0, 8, len(header_shape), *header_shape
    )
    return gzip.compress(header + bytes(math.prod(shape)), mtime=0)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (idx_gz((3, 28, 28)), None),
        (idx_gz((3, 28, 28), claimed=(4, 28, 28)), "IDX content mismatch"),
        (idx_gz((2, 28, 28), claimed=(3, 28, 28)), "IDX content mismatch"),
        (b"not a gzip file at all", "not a readable gzip file"),
    ],
    ids=["valid", "header-claims-more", "data-too-short", "not-gzip"],
)
def test_idx_structure_is_checked_when_no_sha256_is_known(
    tmp_path: Path, serve, content: bytes, problem: str | None
) -> None:
    (tmp_path / "mirror" / "fashion_mnist").mkdir(parents=True)
    (tmp_path / "mirror" / "fashion_mnist" / "tiny.gz").write_bytes(content)
    entry = RemoteFile(
        relative="fashion_mnist/tiny.gz",
        url="http://unused.invalid/tiny.gz",
        group="fashion_mnist",
        sha256=None,
        size=None,
        md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
        idx_shape=(3, 28, 28),
    )
    server = serve(tmp_path / "mirror")
    target = tmp_path / "data"
    if problem is None:
        download(target, files=[entry], mirror=server.url)
        verify(target / entry.relative, entry)
        return
    with pytest.raises(CorruptFileError, match=problem):
        download(target, files=[entry], mirror=server.url)
    assert files_under(target) == []


def test_md5_mismatch_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "file.gz"
    path.write_bytes(idx_gz((1,)))
    entry = RemoteFile(
        "x/file.gz",
        "http://unused.invalid",
        "fashion_mnist",
        None,
        None,
        "0" * 32,
        (1,),
    )
    actual = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    with pytest.raises(
        CorruptFileError, match=f"MD5 mismatch: expected 0{{32}}, got {actual}"
    ):
        verify(path, entry)


# --- bad input and degenerate calls ----------------------------------------------


def test_bad_arguments_raise_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="only='keras,nope'"):
        download(tmp_path, only="keras,nope")
    with pytest.raises(InvalidInputError, match="'no/such/file.bin'"):
        download(tmp_path, files=["no/such/file.bin"])
    with pytest.raises(InvalidInputError, match="either groups or files"):
        download(tmp_path, only="keras", files=SMALL_FILES)
    with pytest.raises(InvalidInputError, match="timeout=0"):
        download(tmp_path, files=SMALL_FILES, timeout=0)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(InvalidInputError, match="data_dir="):
        download(blocker / "data", files=SMALL_FILES[:1], mirror=closed_port_url())


def test_empty_selection_does_nothing(tmp_path: Path) -> None:
    report = download(tmp_path / "never-created", files=[], mirror=closed_port_url())
    assert report.fetched == report.present == [] and report.bytes_fetched == 0
    assert not (tmp_path / "never-created").exists()


def test_present_data_needs_no_network(data_root: Path) -> None:
    report = download(data_root, only="keras,contagio", mirror=closed_port_url())
    assert report.fetched == [] and len(report.present) == 6
    assert missing_files(data_root, "keras,contagio,pdfrate,byteweight") == []


def test_progress_bar_is_opt_in(
    data_root: Path, tmp_path: Path, serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(data_root)
    download(tmp_path / "quiet", files=SMALL_FILES[:1], mirror=server.url)
    assert capsys.readouterr().err == ""
    download(tmp_path / "loud", files=SMALL_FILES[:1], mirror=server.url, progress=True)
    assert "torchxai download" in capsys.readouterr().err
