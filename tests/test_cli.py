"""The ``torchxai`` command line: ``download`` against a local server, ``demo`` on the
shared data (checked against a numpy re-implementation of the PDF MLP), and the
error paths (exit code 2, one message, no traceback)."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from torchxai.cli import SUBCOMMANDS, build_parser, main, write_json
from torchxai.demo import demo_missing_files, ensure_demo_data, format_results
from torchxai.download import MIRROR_ENV_VAR
from torchxai.errors import DataFileMissingError


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_url(data_root: Path) -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 serving the shared data directory."""
    handler = functools.partial(_QuietHandler, directory=str(data_root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def refusing_mirror(monkeypatch: pytest.MonkeyPatch) -> str:
    """Point TORCHXAI_MIRROR at a local port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv(MIRROR_ENV_VAR, url)
    return url


def keras_sums(data_root: Path) -> dict[str, str]:
    lines = (data_root / "keras" / "SHA256SUMS").read_text().splitlines()
    return {
        "keras/" + path.removeprefix("./"): digest
        for digest, path in (line.split() for line in lines)
    }


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("torchxai ")
    for fragment in fragments:
        assert fragment in lines[0]


# --- torchxai download -----------------------------------------------------------


def test_download_command_end_to_end(
    data_root: Path, tmp_path: Path, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["download", "--data-dir", str(tmp_path), "--only", "keras"]
    argv += ["--mirror", server_url, "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fetched 4 file(s)" in out and str(tmp_path) in out
    for relative, digest in keras_sums(data_root).items():
        assert hashlib.sha256((tmp_path / relative).read_bytes()).hexdigest() == digest

    assert main(argv) == 0
    assert "fetched 0 file(s)" in capsys.readouterr().out


def test_download_dry_run_lists_what_would_be_fetched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["download", "--data-dir", str(tmp_path), "--only", "contagio"]
    assert main(argv + ["--mirror", "http://mirror.example/d", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"2 file(s) to fetch into {tmp_path}"
    assert out[1].split() == [
        "contagio/contagio-ben.csv",
        "<-",
        "http://mirror.example/d/contagio/contagio-ben.csv",
    ]
    assert list(tmp_path.iterdir()) == []


def test_download_errors_exit_2_with_one_line(
    tmp_path: Path, refusing_mirror: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["download", "--data-dir", str(tmp_path), "--only", "nope"]) == 2
    assert_one_error_line(capsys.readouterr().err, "download: error", "'nope'")

    assert main(["download", "--data-dir", str(tmp_path), "--only", "keras"]) == 2
    url = f"{refusing_mirror}/keras/O1_Bi_Rnn.h5"
    assert_one_error_line(capsys.readouterr().err, "could not download", url)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# --- torchxai demo ---------------------------------------------------------------


def test_demo_on_an_empty_data_dir_says_what_is_missing(
    tmp_path: Path, refusing_mirror: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["demo", "--data-dir", str(empty), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    err = captured.err
    assert err.startswith("torchxai demo: error: ")
    assert f"missing from {empty} and could not be downloaded" in err
    for name in ("pdf_mlp.h5", "fashion_mnist_cnn.h5", "O1_Bi_Rnn.h5"):
        assert f"keras/{name}  <-  {refusing_mirror}/keras/{name}" in err
    assert "contagio/contagio-mal.csv" in err
    assert "fashion_mnist/t10k-images-idx3-ubyte.gz" in err
    assert "group 'byteweight': 129 file(s)" in err
    assert "group 'pdfrate': 12 file(s)" in err
    assert f"torchxai download --data-dir {empty}" in err
    assert [p for p in empty.rglob("*") if p.is_file()] == []


def numpy_pdf_mlp_accuracy(data_root: Path) -> float:
    """Accuracy of pdf_mlp.h5 on all contagio rows, from h5py, csv and numpy only."""
    with h5py.File(data_root / "keras" / "pdf_mlp.h5", "r") as f:
        layers = [
            (
                f[f"model_weights/dense_{i}/dense_{i}/kernel"][()].astype(np.float64),
                f[f"model_weights/dense_{i}/dense_{i}/bias"][()].astype(np.float64),
            )
            for i in range(1, 5)
        ]
    rows, labels = [], []
    for name in ("contagio-ben.csv", "contagio-mal.csv"):
        with open(data_root / "contagio" / name, newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for row in reader:
                labels.append(row[0] == "TRUE")
                rows.append([v not in ("FALSE", "0", "0.0") for v in row[2:]])
    hidden = np.asarray(rows, dtype=np.float64)
    for k, (kernel, bias) in enumerate(layers):
        hidden = hidden @ kernel + bias
        if k < 3:
            hidden = 1.0 / (1.0 + np.exp(-hidden))
    return float((hidden.argmax(axis=1) == np.asarray(labels)).mean())


def test_demo_on_the_shared_data(
    data_root: Path,
    tmp_path: Path,
    refusing_mirror: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out_file = tmp_path / "out" / "demo.json"
    argv = ["--seed", "3", "demo", "--data-dir", str(data_root), "--no-progress"]
    argv += ["--max-binaries", "2", "--max-images", "500", "--json", str(out_file)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out

    record = json.loads(out_file.read_text())
    assert record["seed"] == 3 and record["max_binaries"] == 2
    results = record["results"]
    mlp = results["pdf_mlp"]["all_rows"]
    assert mlp["n"] == 9999
    assert abs(mlp["accuracy"] - numpy_pdf_mlp_accuracy(data_root)) <= 1.5 / 9999
    assert f"accuracy {mlp['accuracy']:.4f} on all 9,999 contagio rows" in stdout
    cnn = results["fashion_cnn"]
    assert cnn["n"] == 500 and 0.0 <= cnn["accuracy"] <= 1.0
    assert f"accuracy {cnn['accuracy']:.4f} on 500 test images" in stdout
    for key in ("function_start_rnn", "function_start_rnn_fixed"):
        every = results[key]["all"]
        assert every["binaries"] == 2
        assert f"F1 {every['f1']:.4f}" in stdout
    assert [p.name for p in out_file.parent.iterdir()] == ["demo.json"]


# --- the parser ------------------------------------------------------------------


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: torchxai" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "0.1.0"
    assert main(["demo", "--max-binaries", "0"]) == 2
    assert "expected a positive integer, got '0'" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    capsys.readouterr()
    help_text = build_parser().format_help()
    for name in SUBCOMMANDS:
        assert name in help_text


def test_bad_device_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--data-dir", str(tmp_path), "--device", "nonsense"]) == 2
    assert_one_error_line(capsys.readouterr().err, "--device 'nonsense'")


def test_global_options_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    before = parser.parse_args(["--seed", "5", "--device", "cpu", "download"])
    after = parser.parse_args(["download", "--seed", "5", "--device", "cpu"])
    default = parser.parse_args(["download"])
    assert (before.seed, before.device) == (after.seed, after.device) == (5, "cpu")
    assert (default.seed, default.device, default.verbose) == (0, None, 0)


def test_write_json_is_atomic_and_converts_arrays(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "r.json"
    write_json(target, {"a": np.arange(3), "b": np.float32(0.5), "p": tmp_path})
    assert json.loads(target.read_text()) == {
        "a": [0, 1, 2],
        "b": 0.5,
        "p": str(tmp_path),
    }
    with pytest.raises(TypeError, match="object"):
        write_json(target, {"bad": object()})
    assert json.loads(target.read_text())["a"] == [0, 1, 2]
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


# --- the demo's data check -------------------------------------------------------


def link_shared_data(data_root: Path, target: Path, skip: str) -> None:
    """A data directory of symbolic links to the shared folders, except ``skip``."""
    target.mkdir()
    for folder in data_root.iterdir():
        if folder.is_dir() and folder.name != skip:
            (target / folder.name).symlink_to(folder, target_is_directory=True)


def test_demo_fetches_missing_files_from_a_mirror(
    data_root: Path, tmp_path: Path, server_url: str
) -> None:
    root = tmp_path / "data"
    link_shared_data(data_root, root, skip="keras")
    assert [e.relative for e in demo_missing_files(root)] == sorted(
        keras_sums(data_root)
    )
    assert ensure_demo_data(root, mirror=server_url) == root
    assert demo_missing_files(root) == []
    for relative, digest in keras_sums(data_root).items():
        assert hashlib.sha256((root / relative).read_bytes()).hexdigest() == digest


def test_demo_accepts_official_fashion_mnist_files(
    data_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    link_shared_data(data_root, root, skip="fashion_mnist")
    missing = [e.relative for e in demo_missing_files(root)]
    assert missing == [
        "fashion_mnist/t10k-images-idx3-ubyte.gz",
        "fashion_mnist/t10k-labels-idx1-ubyte.gz",
    ]
    labels = root / "fashion_mnist" / "official_label_files"
    labels.mkdir(parents=True)
    (labels / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    (root / "fashion_mnist" / "t10k-images-idx3-ubyte").write_bytes(b"")
    assert demo_missing_files(root) == []
    (labels / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileMissingError, match="^1 data file"):
        ensure_demo_data(root, fetch=False)


def test_format_results_falls_back_to_plain_lines() -> None:
    text = format_results({"pdf_mlp": {"unexpected": 0.123456}, "extra": [1.0, None]})
    assert text.splitlines() == [
        "pdf_mlp:",
        "  unexpected: 0.1235",
        "extra: [1.0000, None]",
    ]
