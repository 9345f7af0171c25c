"""Tests of torchxai.datasets: parsing, splits, IDX/npz images, ELF function starts."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from torchxai.datasets import (
    FASHION_MNIST_CLASSES,
    FEATURE_NAMES,
    PDFRATE_ATTACKS,
    ImageDataset,
    TabularDataset,
    binarize,
    list_byteweight_binaries,
    load_contagio,
    load_fashion_mnist,
    load_function_start_windows,
    load_pdfrate_attacks,
    read_elf_function_starts,
    read_idx,
    read_pdfrate_csv,
    split_binaries,
    stratified_split_indices,
    train_test_split,
    windows_from_text,
)
from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError

# ---------------------------------------------------------------- contagio / pdfrate


@pytest.fixture(scope="module")
def data_root_module() -> Path:
    return Path(os.environ["TORCHXAI_DATA"])


@pytest.fixture(scope="module")
def contagio(data_root_module: Path) -> TabularDataset:
    return load_contagio(data_root_module)


def _reference_rows(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Parse a feature CSV by plain string splitting: header, labels, float32 values."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = [line.split(",") for line in lines[1:] if line]
    labels = np.array([row[0] == "TRUE" for row in cells], dtype=np.int64)
    to_number = {"TRUE": 1.0, "FALSE": 0.0}
    values = np.array(
        [
            [to_number[v] if v in to_number else float(v) for v in row[2:]]
            for row in cells
        ]
    )
    return header, labels, values.astype(np.float32)


def test_contagio_counts_and_values_match_raw_csv(contagio, data_root_module):
    assert contagio.features.shape == (9999, 135)
    assert contagio.features.dtype == torch.float32
    assert contagio.labels.dtype == torch.int64
    assert int((contagio.labels == 0).sum()) == 5000
    assert int((contagio.labels == 1).sum()) == 4999

    ben = data_root_module / "contagio" / "contagio-ben.csv"
    mal = data_root_module / "contagio" / "contagio-mal.csv"
    header, ben_labels, ben_values = _reference_rows(ben)
    _, mal_labels, mal_values = _reference_rows(mal)
    assert contagio.feature_names == header[2:] == list(FEATURE_NAMES)
    np.testing.assert_array_equal(
        contagio.labels.numpy(), np.concatenate([ben_labels, mal_labels])
    )
    np.testing.assert_array_equal(
        contagio.features.numpy(), np.concatenate([ben_values, mal_values])
    )
    assert contagio.filenames[0] == ben.read_text().splitlines()[1].split(",")[1]


def test_true_false_columns_become_one_and_zero(contagio, data_root_module):
    text = (data_root_module / "contagio" / "contagio-mal.csv").read_text()
    rows = [line.split(",") for line in text.splitlines()[1:]]
    for name in ("box_other_only", "pdfid_mismatch"):
        column = 2 + FEATURE_NAMES.index(name)
        raw = np.array([row[column] for row in rows])
        assert set(raw) <= {"TRUE", "FALSE"}
        got = contagio.features[5000:, column - 2].numpy()
        np.testing.assert_array_equal(got, (raw == "TRUE").astype(np.float32))
        assert 0 < got.sum() < len(rows)  # both literals occur


def test_binarize_matches_numpy(contagio):
    x = contagio.features[:500]
    got = binarize(x)
    assert got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), (x.numpy() != 0).astype(np.float32))
    assert binarize(torch.tensor([[-2, 0, 3]])).tolist() == [[1.0, 0.0, 1.0]]
    with pytest.raises(InvalidInputError, match="torch.Tensor"):
        binarize(np.zeros(3))  # type: ignore[arg-type]


def test_pdfrate_attacks_row_counts(data_root_module):
    total = 0
    for name in PDFRATE_ATTACKS:
        path = data_root_module / "pdfrate_csmutz" / f"{name}.csv"
        expected = len([x for x in path.read_text().splitlines()[1:] if x])
        attack = load_pdfrate_attacks(name, data_root_module)
        assert attack.features.shape == (expected, 135)
        assert bool((attack.labels == 1).all())
        total += expected
    assert len(load_pdfrate_attacks("all", data_root_module)) == total
    with pytest.raises(InvalidInputError, match="nonsense"):
        load_pdfrate_attacks("nonsense", data_root_module)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path


def _good_row() -> list[str]:
    return ["TRUE", "a.pdf", *["1"] * 135]


def test_csv_errors_name_file_and_column(tmp_path):
    header = ["class", "filename", *FEATURE_NAMES]
    good = _write_csv(tmp_path / "good.csv", header, [_good_row()])
    assert read_pdfrate_csv(good).features.shape == (1, 135)

    renamed = header.copy()
    renamed[7] = "author_typo"
    bad = _write_csv(tmp_path / "renamed.csv", renamed, [_good_row()])
    with pytest.raises(CorruptFileError, match=r"renamed\.csv.*'author_typo'"):
        read_pdfrate_csv(bad)

    short = _write_csv(tmp_path / "short.csv", header[:-1], [])
    with pytest.raises(CorruptFileError, match=r"short\.csv.*'version'"):
        read_pdfrate_csv(short)

    row = _good_row()
    row[2 + FEATURE_NAMES.index("size")] = "big"
    value = _write_csv(tmp_path / "value.csv", header, [row])
    with pytest.raises(CorruptFileError, match=r"value\.csv, line 2: column 'size'"):
        read_pdfrate_csv(value)

    klass = _write_csv(tmp_path / "klass.csv", header, [["MAYBE", *_good_row()[1:]]])
    with pytest.raises(CorruptFileError, match="'class' is 'MAYBE'"):
        read_pdfrate_csv(klass)

    fields = _write_csv(tmp_path / "fields.csv", header, [_good_row()[:-3]])
    with pytest.raises(CorruptFileError, match="134 fields"):
        read_pdfrate_csv(fields)

    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CorruptFileError, match="empty"):
        read_pdfrate_csv(tmp_path / "empty.csv")


def test_missing_data_dir_raises(tmp_path):
    with pytest.raises(DataFileMissingError, match="contagio-ben.csv"):
        load_contagio(tmp_path)
    with pytest.raises(DataFileMissingError, match="fmnist_test_9680.npz"):
        load_fashion_mnist("test", tmp_path)
    with pytest.raises(DataFileMissingError, match="ByteWeight"):
        list_byteweight_binaries(tmp_path)


# ---------------------------------------------------------------- splits


def test_split_is_stratified_disjoint_and_seeded(contagio):
    train, test = train_test_split(contagio, test_fraction=0.2, seed=0)
    assert len(train) + len(test) == len(contagio)
    assert int((test.labels == 0).sum()) == 1000  # floor(5000 * 0.2 + 0.5)
    assert int((test.labels == 1).sum()) == 1000  # floor(4999 * 0.2 + 0.5)
    assert not set(train.filenames) & set(test.filenames)

    train_index, test_index = stratified_split_indices(contagio.labels, 0.2, seed=0)
    assert torch.equal(
        torch.sort(torch.cat([train_index, test_index])).values,
        torch.arange(len(contagio)),
    )
    assert torch.equal(test.features, contagio.features[test_index])
    again = stratified_split_indices(contagio.labels, 0.2, seed=0)[1]
    other = stratified_split_indices(contagio.labels, 0.2, seed=1)[1]
    assert torch.equal(again, test_index)
    assert not torch.equal(other, test_index)


def test_split_degenerate_and_bad_inputs():
    one_class = torch.zeros(10, dtype=torch.int64)
    train, test = stratified_split_indices(one_class, 0.3, seed=0)
    assert len(test) == 3 and len(train) == 7
    images = ImageDataset(torch.zeros(6, 28, 28), torch.tensor([0, 0, 0, 1, 1, 1]))
    _, image_test = train_test_split(images, 0.5, seed=3)
    assert sorted(image_test.labels.tolist()) == [0, 0, 1, 1]  # floor(1.5 + 0.5)
    for bad in (0.0, 1.0, -0.1, "0.2"):
        with pytest.raises(InvalidInputError, match="test_fraction"):
            stratified_split_indices(one_class, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="indices"):
        images.subset([7])


# ---------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_test_images(data_root_module):
    test = load_fashion_mnist("test", data_root_module)
    assert test.images.shape == (9680, 28, 28)
    assert test.images.dtype == torch.float32 and test.labels.dtype == torch.int64
    assert float(test.images.min()) == 0.0 and float(test.images.max()) == 1.0
    pixels = test.images * 255
    assert torch.equal(pixels, pixels.round())
    assert torch.bincount(test.labels, minlength=10).tolist() == [968] * 10
    assert test.source == [data_root_module / "fashion_mnist" / "fmnist_test_9680.npz"]
    with np.load(test.source[0]) as raw:
        np.testing.assert_array_equal(test.labels.numpy(), raw["y"])
        np.testing.assert_array_equal(pixels.to(torch.uint8).numpy(), raw["x"])
    assert FASHION_MNIST_CLASSES[1] == "Trouser" and len(FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_train_counts(data_root_module):
    train = load_fashion_mnist("train", data_root_module)
    assert train.images.shape == (59160, 28, 28)
    assert torch.bincount(train.labels, minlength=10).tolist() == [5916] * 10
    with pytest.raises(InvalidInputError, match="split"):
        load_fashion_mnist("validation", data_root_module)
    with pytest.raises(InvalidInputError, match="source"):
        load_fashion_mnist("test", data_root_module, source="png")


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    head = bytes([0, 0, code, array.ndim])
    head += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    ints = rng.integers(-(2**31), 2**31 - 1, size=(3, 5), dtype=np.int64).astype(">i4")
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx_bytes(images, 0x08))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images, 0x08)))
    (tmp_path / "b-idx2-int").write_bytes(_idx_bytes(ints, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz"), images)
    got = read_idx(tmp_path / "b-idx2-int")
    assert got.dtype.isnative and got.shape == (3, 5)
    np.testing.assert_array_equal(got, ints)


def test_idx_matches_torchvision_reader(data_root_module):
    from torchvision.datasets.mnist import read_label_file

    path = data_root_module / "fashion_mnist" / "official_label_files"
    reference = read_label_file(str(path / "t10k-labels-idx1-ubyte")).numpy()
    np.testing.assert_array_equal(read_idx(path / "t10k-labels-idx1-ubyte"), reference)
    np.testing.assert_array_equal(
        read_idx(path / "t10k-labels-idx1-ubyte.gz"), reference
    )
    assert np.bincount(reference).tolist() == [1000] * 10


def test_idx_errors(tmp_path):
    good = _idx_bytes(np.zeros((2, 3), dtype=np.uint8), 0x08)
    cases = {"magic": b"\x01\x02" + good[2:], "short": good[:-1], "header": good[:6]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CorruptFileError, match=name):
            read_idx(tmp_path / name)
    (tmp_path / "broken.gz").write_bytes(b"not gzip")
    with pytest.raises(CorruptFileError, match="broken.gz"):
        read_idx(tmp_path / "broken.gz")


def test_fashion_loader_reads_idx_and_prefers_npz(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    folder = tmp_path / "fashion_mnist"
    folder.mkdir()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(images, 0x08))
    )
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(labels, 0x08))

    from_idx = load_fashion_mnist("test", tmp_path)
    assert from_idx.source == [
        folder / "t10k-images-idx3-ubyte.gz",
        folder / "t10k-labels-idx1-ubyte",
    ]
    np.testing.assert_array_equal(from_idx.images.numpy(), images / np.float32(255))
    np.testing.assert_array_equal(from_idx.labels.numpy(), labels)
    with pytest.raises(DataFileMissingError, match="fmnist_test_9680.npz"):
        load_fashion_mnist("test", tmp_path, source="npz")

    np.savez(folder / "fmnist_test_9680.npz", x=images[:5], y=labels[:5])
    assert len(load_fashion_mnist("test", tmp_path)) == 5  # npz wins
    assert len(load_fashion_mnist("test", tmp_path, source="idx")) == 12

    np.savez(folder / "fmnist_test_9680.npz", x=images[:5], y=labels[:5] + 20)
    with pytest.raises(CorruptFileError, match="labels range"):
        load_fashion_mnist("test", tmp_path)


# ---------------------------------------------------------------- ELF function starts

_C_SOURCE = """
__attribute__((noinline)) int alpha(int x) { return x * 3 + 1; }
__attribute__((noinline)) static int beta(int x) { return x ^ 0x55; }
__attribute__((noinline)) int gamma_sum(int *p, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) s += beta(p[i]);
    return s;
}
int main(int argc, char **argv) {
    (void)argv;
    return alpha(argc) + gamma_sum(&argc, 1);
}
"""
_OUR_FUNCTIONS = ("alpha", "beta", "gamma_sum", "main")


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _compile(tmp_path: Path, flags: list[str], name: str) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    source = tmp_path / "prog.c"
    source.write_text(_C_SOURCE)
    out = tmp_path / name
    result = subprocess.run(
        ["gcc", "-O1", *flags, "-o", str(out), str(source)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"gcc {' '.join(flags)} failed: {result.stderr.decode()[-200:]}")
    return out


def _readelf_reference(path: Path) -> tuple[bytes, set[int], int]:
    """.text bytes, function-start offsets and .text address, read with readelf."""
    sections = _run("readelf", "-SW", str(path))
    match = re.search(
        r"\[\s*(\d+)\]\s+\.text\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)",
        sections,
    )
    assert match, sections
    address, offset, size = (int(g, 16) for g in match.groups()[1:])
    index = int(match.group(1))
    code = path.read_bytes()[offset : offset + size]
    kind = re.search(r"Type:\s+(\w+)", _run("readelf", "-h", str(path))).group(1)
    base = 0 if kind == "REL" else address

    symbols = _run("readelf", "-sW", str(path)).split("Symbol table '.symtab'")[1]
    starts = set()
    for line in symbols.splitlines():
        parts = line.split()
        if len(parts) >= 7 and parts[3] == "FUNC" and parts[6] == str(index):
            value = int(parts[1], 16) - base
            if 0 <= value < size:
                starts.add(value)
    return code, starts, base


def _nm_addresses(path: Path) -> dict[str, int]:
    table = {}
    for line in _run("nm", "--defined-only", str(path)).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "Tt":
            table[parts[2]] = int(parts[0], 16)
    return table


@pytest.mark.parametrize(
    ("flags", "name"),
    [(["-m32"], "prog32"), (["-m64"], "prog64"), (["-m64", "-c"], "prog64.o")],
)
def test_elf_labels_match_readelf_and_nm(tmp_path, flags, name):
    binary = _compile(tmp_path, flags, name)
    text = read_elf_function_starts(binary)
    code, starts, address = _readelf_reference(binary)

    assert text.code.dtype == np.uint8 and text.is_start.dtype == np.bool_
    assert text.address == address
    assert text.code.tobytes() == code
    assert set(text.start_offsets.tolist()) == starts
    nm = _nm_addresses(binary)
    for function in _OUR_FUNCTIONS:
        assert text.is_start[nm[function] - text.address], function


def test_elf_byteweight_binary_matches_readelf(data_root_module):
    binaries = list_byteweight_binaries(data_root_module)
    assert len(binaries) == 129
    smallest = min(binaries, key=lambda p: p.stat().st_size)
    text = read_elf_function_starts(smallest)
    code, starts, _ = _readelf_reference(smallest)
    assert text.code.tobytes() == code
    assert set(text.start_offsets.tolist()) == starts
    assert len(starts) > 5


def test_elf_refuses_stripped_non_elf_and_missing(tmp_path):
    binary = _compile(tmp_path, ["-m64"], "prog")
    stripped = tmp_path / "prog_stripped"
    _run("strip", "-o", str(stripped), str(binary))
    with pytest.raises(InvalidInputError, match=r"prog_stripped.*stripped"):
        read_elf_function_starts(stripped)

    text_file = tmp_path / "notes.txt"
    text_file.write_text("this is not an ELF file\n")
    with pytest.raises(CorruptFileError, match=r"notes\.txt.*not a readable ELF"):
        read_elf_function_starts(text_file)

    truncated = tmp_path / "truncated"
    truncated.write_bytes(binary.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_elf_function_starts(truncated)

    with pytest.raises(DataFileMissingError, match="nowhere"):
        read_elf_function_starts(tmp_path / "nowhere")
    with pytest.raises(CorruptFileError, match="notes.txt"):
        load_function_start_windows([binary, text_file])


@pytest.mark.parametrize("length", [0, 1, 199, 200, 201, 1000])
def test_windows_round_trip(length):
    rng = np.random.default_rng(length)
    code = rng.integers(0, 256, size=length, dtype=np.uint8)
    is_start = rng.random(length) < 0.1
    tokens, labels = windows_from_text(code, is_start, window=200)

    n_windows = -(-length // 200)
    assert tokens.shape == labels.shape == (n_windows, 200)
    assert tokens.dtype == labels.dtype == torch.int64
    flat_tokens, flat_labels = tokens.flatten(), labels.flatten()
    np.testing.assert_array_equal(flat_tokens[:length].numpy() - 1, code)
    np.testing.assert_array_equal(flat_labels[:length].numpy(), is_start)
    assert int(flat_tokens[length:].abs().sum() + flat_labels[length:].sum()) == 0
    assert bool((flat_tokens[:length] >= 1).all())


def test_windows_bad_inputs():
    with pytest.raises(InvalidInputError, match="window"):
        windows_from_text(np.zeros(3, np.uint8), np.zeros(3, bool), window=0)
    with pytest.raises(InvalidInputError, match="equal length"):
        windows_from_text(np.zeros(3, np.uint8), np.zeros(4, bool))
    with pytest.raises(InvalidInputError, match="0..255"):
        windows_from_text(np.array([256]), np.array([False]))
    with pytest.raises(InvalidInputError, match="0/1"):
        windows_from_text(np.array([1, 2]), np.array([0, 2]))


def test_windows_of_two_byteweight_binaries(data_root_module):
    binaries = sorted(
        list_byteweight_binaries(data_root_module), key=lambda p: p.stat().st_size
    )
    pair = binaries[:2]
    data = load_function_start_windows(pair, window=200)
    assert data.paths == pair
    for index, path in enumerate(pair):
        text = read_elf_function_starts(path)
        rows = data.binary_index == index
        assert int(rows.sum()) == -(-text.code.size // 200)
        tokens = data.tokens[rows]
        real = tokens[tokens != 0]
        np.testing.assert_array_equal(real.numpy() - 1, text.code)
        assert int(data.labels[rows].sum()) == int(text.is_start.sum())
    assert torch.equal(data.mask, data.tokens != 0)


def test_split_binaries_disjoint_seeded_order_free(data_root_module):
    binaries = list_byteweight_binaries(data_root_module)
    train, test = split_binaries(binaries, test_fraction=0.3, seed=0)
    assert len(test) == 39 and len(train) == 90  # floor(129 * 0.3 + 0.5)
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(binaries)
    assert split_binaries(binaries[::-1], 0.3, seed=0) == (train, test)
    assert split_binaries(binaries, 0.3, seed=1)[1] != test
    assert split_binaries(binaries[:2], 0.01)[1] != []  # at least one test binary
    with pytest.raises(InvalidInputError, match="at least two"):
        split_binaries(binaries[:1])
