"""The torch ports of the Keras target models against independent numpy references.

The references below read the ``.h5`` arrays with h5py and run the networks in
plain float64 numpy (explicit true convolution for the Theano CNN, an explicit RNN
loop), on real inputs read here directly: contagio CSV rows, Fashion-MNIST test
images, and 200-byte windows of the ``.text`` section of a ByteWeight binary.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from numpy.lib.stride_tricks import sliding_window_view

from torchxai.errors import CorruptFileError, DataFileMissingError, InvalidInputError
from torchxai.models import (
    FashionMNISTCNN,
    FunctionStartRNN,
    PDFMalwareMLP,
    bytes_to_tokens,
    load_fashion_cnn,
    load_function_start_rnn,
    load_pdf_mlp,
    read_keras_h5,
)

TOL = 1e-5
ELF = "byteweight_elf_x86_32_gcc_O1/elf/coreutils/gcc_coreutils_32_O1_ls"


# --------------------------------------------------------------------------- data


def _h5_arrays(path: Path) -> dict[str, np.ndarray]:
    """All weight arrays of a Keras file: ``"dense_1/kernel"`` -> float64 array."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                key = name.split("/", 1)[1]
                arrays[key.removesuffix(":0")] = np.asarray(obj[()], dtype=np.float64)

        f["model_weights"].visititems(visit)
    return arrays


def _contagio(root: Path, kind: str, n: int, step: int = 1) -> np.ndarray:
    """``n`` rows (every ``step``-th) of contagio-<kind>.csv, features binarized:
    1 where positive or TRUE, else 0."""
    rows = []
    with open(root / "contagio" / f"contagio-{kind}.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert header[:2] == ["class", "filename"] and len(header) == 137
        for i, row in enumerate(reader):
            if i % step:
                continue
            values = [
                1.0 if v == "TRUE" else 0.0 if v == "FALSE" else float(float(v) > 0)
                for v in row[2:]
            ]
            rows.append(values)
            if len(rows) == n:
                break
    return np.asarray(rows)


def _fashion(root: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(root / "fashion_mnist" / "fmnist_test_9680.npz") as d:
        return d["x"][:n].astype(np.float64) / 255.0, d["y"][:n].astype(np.int64)


def _text_windows(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """200-byte windows of .text of one binary (tokens = byte + 1) and their
    function-start labels (from the STT_FUNC symbols)."""
    with open(root / ELF, "rb") as fh:
        elf = ELFFile(fh)
        text = elf.get_section_by_name(".text")
        symtab = elf.get_section_by_name(".symtab")
        assert text is not None and isinstance(symtab, SymbolTableSection)
        data, start = text.data(), text["sh_addr"]
        starts = {
            s["st_value"]
            for s in symtab.iter_symbols()
            if s["st_info"]["type"] == "STT_FUNC" and s["st_shndx"] != "SHN_UNDEF"
        }
    n = len(data) // 200
    tokens = np.frombuffer(data[: n * 200], dtype=np.uint8).astype(np.int64) + 1
    labels = np.zeros(n * 200, dtype=np.int64)
    for address in starts:
        if start <= address < start + n * 200:
            labels[address - start] = 1
    return tokens.reshape(n, 200), labels.reshape(n, 200)


# ---------------------------------------------------------------- numpy references


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ref_mlp(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    h = x
    for i in (1, 2, 3):
        h = 1.0 / (1.0 + np.exp(-(h @ w[f"dense_{i}/kernel"] + w[f"dense_{i}/bias"])))
    return h @ w["dense_4/kernel"] + w["dense_4/bias"]


def _theano_conv_same(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True 2-D convolution (Theano), 'same' padding, channels last.
    x (n, h, w, c), k (kh, kw, c, o) as stored by Keras."""
    kh, kw = k.shape[:2]
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    windows = sliding_window_view(padded, (kh, kw), axis=(1, 2))  # n,h,w,c,kh,kw
    return np.einsum("nhwcij,ijco->nhwo", windows, k[::-1, ::-1]) + b


def _max_pool_2x2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _ref_cnn(w: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    h = images[..., None]  # (n, 28, 28, 1), channels last as in Keras
    for name in ("conv2d_1", "conv2d_2"):
        conv = _theano_conv_same(h, w[f"{name}/kernel"], w[f"{name}/bias"])
        h = _max_pool_2x2(np.maximum(conv, 0.0))
    flat = h.reshape(len(h), -1)  # Keras Flatten of (h, w, c)
    return flat @ w["dense_1/kernel"] + w["dense_1/bias"]


def _ref_rnn(w: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    e = w["embedding_1/embeddings"][tokens]  # (n, T, 16)

    def simple_rnn(seq: np.ndarray, direction: str) -> np.ndarray:
        p = f"bidirectional_1/{direction}_simple_rnn_1/"
        kernel, rec, bias = w[p + "kernel"], w[p + "recurrent_kernel"], w[p + "bias"]
        h = np.zeros((seq.shape[0], rec.shape[0]))
        out = []
        for t in range(seq.shape[1]):
            h = np.maximum(seq[:, t] @ kernel + bias + h @ rec, 0.0)
            out.append(h)
        return np.stack(out, axis=1)

    forward = simple_rnn(e, "forward")
    backward = simple_rnn(e[:, ::-1], "backward")[:, ::-1]  # read reversed, re-reverse
    states = np.concatenate([forward, backward], axis=-1)
    return states @ w["time_distributed_1/kernel"] + w["time_distributed_1/bias"]


def _compare(port: torch.Tensor, ref: np.ndarray, tol: float = TOL) -> float:
    """Max abs difference, asserted below ``tol`` (relative to the value's size
    where it exceeds 1: float32 logits of the RNN reach about 56)."""
    got = port.detach().double().numpy()
    assert got.shape == ref.shape
    diff = np.abs(got - ref)
    assert np.all(diff <= tol * np.maximum(1.0, np.abs(ref))), diff.max()
    return float(diff.max())


# ------------------------------------------------------------ port == reference


def test_pdf_mlp_matches_reference(data_root: Path) -> None:
    x = np.concatenate(
        [_contagio(data_root, "mal", 16), _contagio(data_root, "ben", 16)]
    )
    w = _h5_arrays(data_root / "keras" / "pdf_mlp.h5")
    ref = _ref_mlp(w, x)
    model = load_pdf_mlp(data_root)
    assert not model.training
    xt = torch.as_tensor(x, dtype=torch.float32)
    with torch.no_grad():
        _compare(model(xt), ref)
        _compare(model.predict_proba(xt), _softmax(ref))
        model64 = load_pdf_mlp(data_root, dtype=torch.float64, device="cpu")
        assert abs(_compare(model64(torch.as_tensor(x)), ref)) < 1e-12


def test_fashion_cnn_matches_reference(data_root: Path) -> None:
    images, _ = _fashion(data_root, 8)
    w = _h5_arrays(data_root / "keras" / "fashion_mnist_cnn.h5")
    ref = _ref_cnn(w, images)
    model = load_fashion_cnn(data_root)
    xt = torch.as_tensor(images, dtype=torch.float32)
    with torch.no_grad():
        _compare(model(xt), ref)
        _compare(model(xt[:, None]), ref)  # (batch, 1, 28, 28) too
        _compare(model.predict_proba(xt), _softmax(ref))
        model64 = load_fashion_cnn(data_root, dtype=torch.float64, device="cpu")
        assert _compare(model64(torch.as_tensor(images)), ref) < 1e-10


@pytest.mark.parametrize("fixed", [False, True])
def test_function_start_rnn_matches_reference(data_root: Path, fixed: bool) -> None:
    tokens, _ = _text_windows(data_root)
    sample = tokens[::40][:8].copy()
    sample[-1, 150:] = 0  # a padded window: token 0 is an ordinary embedding row
    name = "O1_Bi_Rnn_fixed.h5" if fixed else "O1_Bi_Rnn.h5"
    w = _h5_arrays(data_root / "keras" / name)
    ref = _ref_rnn(w, sample)
    model = load_function_start_rnn(data_root, fixed=fixed)
    assert model.source is not None and model.source.name == name
    tt = torch.as_tensor(sample)
    with torch.no_grad():
        _compare(model(tt), ref)
        _compare(model.predict_proba(tt), _softmax(ref))
        _compare(model(tt.to(torch.int32)), ref)
        _compare(model(tt[:, :37]), _ref_rnn(w, sample[:, :37]))  # any length
        model64 = load_function_start_rnn(data_root, fixed=fixed, dtype=torch.float64)
        assert _compare(model64(tt), ref) < 1e-10


def test_files_say_what_the_ports_assume(data_root: Path) -> None:
    mlp = read_keras_h5(data_root / "keras" / "pdf_mlp.h5")
    cnn = read_keras_h5(data_root / "keras" / "fashion_mnist_cnn.h5")
    rnn = read_keras_h5(data_root / "keras" / "O1_Bi_Rnn.h5")
    fixed = read_keras_h5(data_root / "keras" / "O1_Bi_Rnn_fixed.h5")
    assert (mlp.backend, mlp.keras_version) == ("theano", "2.0.8")
    assert (cnn.backend, cnn.keras_version) == ("theano", "2.0.8")
    assert (rnn.backend, rnn.keras_version) == ("theano", "2.0.8")
    assert (fixed.backend, fixed.keras_version) == ("tensorflow", "2.2.4")
    assert {
        c.config["data_format"] for c in cnn.layers if "data_format" in c.config
    } == {"channels_last"}
    for f in (rnn, fixed):
        assert f.layers[0].config["mask_zero"] is False
        assert f.layers[1].config["merge_mode"] == "concat"
        assert f.layers[1].config["layer"]["config"]["activation"] == "relu"
        assert "forward_simple_rnn_1/bias" in f.layers[1].weights


# ----------------------------------------------------------- accuracy, quickly


def test_pdf_mlp_accuracy_on_contagio_subset(data_root: Path) -> None:
    # every 20th row: the first few hundred malicious rows are a harder cluster
    x = np.concatenate(
        [
            _contagio(data_root, "mal", 250, step=20),
            _contagio(data_root, "ben", 250, step=20),
        ]
    )
    y = np.r_[np.ones(250), np.zeros(250)]
    with torch.no_grad():
        pred = load_pdf_mlp(data_root)(torch.as_tensor(x, dtype=torch.float32)).argmax(
            1
        )
    assert (pred.numpy() == y).mean() > 0.95


def test_fashion_cnn_accuracy_on_test_subset(data_root: Path) -> None:
    images, labels = _fashion(data_root, 500)
    with torch.no_grad():
        logits = load_fashion_cnn(data_root)(
            torch.as_tensor(images, dtype=torch.float32)
        )
    assert (logits.argmax(1).numpy() == labels).mean() > 0.85


def test_function_start_rnn_finds_function_starts(data_root: Path) -> None:
    tokens, labels = _text_windows(data_root)
    with torch.no_grad():
        pred = load_function_start_rnn(data_root)(torch.as_tensor(tokens)).argmax(-1)
    pred_np = pred.numpy()
    tp = int(((pred_np == 1) & (labels == 1)).sum())
    assert tp / max(int((pred_np == 1).sum()), 1) > 0.9  # precision
    assert tp / int(labels.sum()) > 0.9  # recall


# -------------------------------------------------------------- dtype and device


def test_to_device_and_dtype(data_root: Path) -> None:
    model = load_pdf_mlp(data_root).to("cpu", torch.float64)
    out = model.predict_proba(torch.full((3, 135), 0.5, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (3, 2)
    assert torch.allclose(out.sum(1), torch.ones(3, dtype=torch.float64))
    cnn = load_fashion_cnn(data_root, device=torch.device("cpu"), dtype=torch.float64)
    assert cnn(torch.zeros(2, 28, 28, dtype=torch.float64)).dtype == torch.float64
    rnn = load_function_start_rnn(data_root).to(torch.float64)
    assert rnn(torch.ones(1, 5, dtype=torch.long)).dtype == torch.float64


def test_gradients_flow_to_inputs(data_root: Path) -> None:
    x = torch.full((2, 135), 0.5, requires_grad=True)
    load_pdf_mlp(data_root).predict_proba(x)[:, 1].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    rnn = load_function_start_rnn(data_root)
    e = rnn.embedding(torch.randint(0, 257, (1, 20))).detach().requires_grad_(True)
    rnn.logits_from_embeddings(e)[0, 10, 1].backward()
    assert e.grad is not None and e.grad.abs().sum() > 0


def test_bytes_to_tokens() -> None:
    assert bytes_to_tokens(b"\x00\xff\x10").tolist() == [1, 256, 17]
    assert bytes_to_tokens(np.array([[0, 255]], dtype=np.uint8)).tolist() == [[1, 256]]
    with pytest.raises(InvalidInputError):
        bytes_to_tokens(np.array([1, 2], dtype=np.int32))


# ------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors(data_root: Path) -> None:
    mlp, cnn = load_pdf_mlp(data_root), load_fashion_cnn(data_root)
    rnn = load_function_start_rnn(data_root)
    cases = [
        (mlp, torch.zeros(135), "shape"),
        (mlp, torch.zeros(2, 134), "shape"),
        (mlp, torch.zeros(2, 135, dtype=torch.long), "floating-point"),
        (mlp, torch.zeros(2, 135, dtype=torch.float64), "dtype"),
        (mlp, np.zeros((2, 135), dtype=np.float32), "torch.Tensor"),
        (cnn, torch.zeros(2, 28, 28, 1), "shape"),
        (cnn, torch.zeros(2, 3, 28, 28), "shape"),
        (cnn, torch.zeros(2, 28, 28, dtype=torch.uint8), "floating-point"),
        (rnn, torch.zeros(200, dtype=torch.long), "shape"),
        (rnn, torch.zeros(1, 200, 1, dtype=torch.long), "shape"),
        (rnn, torch.zeros(1, 200), "integer"),
        (rnn, torch.zeros(1, 200, dtype=torch.bool), "integer"),
        (rnn, torch.full((1, 200), 257, dtype=torch.long), "0..256"),
        (rnn, torch.full((1, 200), -1, dtype=torch.long), "0..256"),
    ]
    for model, x, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            model(x)
    with pytest.raises(InvalidInputError, match="embeddings"):
        rnn.logits_from_embeddings(torch.zeros(1, 5, 8))
    with pytest.raises(InvalidInputError, match="floating-point dtype"):
        load_pdf_mlp(data_root, dtype=torch.int64)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFileMissingError, match="pdf_mlp.h5"):
        load_pdf_mlp(tmp_path)
    with pytest.raises(DataFileMissingError, match="O1_Bi_Rnn_fixed.h5"):
        load_function_start_rnn(tmp_path, fixed=True)
    with pytest.raises(DataFileMissingError):
        FashionMNISTCNN.from_h5(tmp_path / "nowhere.h5")


def _copy_model(data_root: Path, tmp_path: Path, name: str) -> Path:
    (tmp_path / "keras").mkdir(exist_ok=True)
    target = tmp_path / "keras" / name
    shutil.copyfile(data_root / "keras" / name, target)
    return target


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "keras").mkdir()
    bad = tmp_path / "keras" / "fashion_mnist_cnn.h5"
    bad.write_bytes(b"this is not an HDF5 file\n" * 10)
    with pytest.raises(
        CorruptFileError, match="fashion_mnist_cnn.h5.*not a readable HDF5"
    ):
        load_fashion_cnn(tmp_path)
    with h5py.File(tmp_path / "keras" / "pdf_mlp.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CorruptFileError, match="pdf_mlp.h5.*model_config"):
        load_pdf_mlp(tmp_path)


def test_h5_missing_a_layer(data_root: Path, tmp_path: Path) -> None:
    path = _copy_model(data_root, tmp_path, "pdf_mlp.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense_3"]
    with pytest.raises(CorruptFileError, match="pdf_mlp.h5.*'dense_3'"):
        load_pdf_mlp(tmp_path)


def test_h5_missing_a_weight_or_wrong_shape(data_root: Path, tmp_path: Path) -> None:
    path = _copy_model(data_root, tmp_path, "O1_Bi_Rnn_fixed.h5")
    with h5py.File(path, "r+") as f:
        group = f["model_weights/bidirectional_1"]
        names = [n for n in group.attrs["weight_names"] if b"backward" not in n]
        group.attrs["weight_names"] = names
    with pytest.raises(CorruptFileError, match="backward_simple_rnn_1/kernel"):
        load_function_start_rnn(tmp_path, fixed=True)

    path = _copy_model(data_root, tmp_path, "fashion_mnist_cnn.h5")
    with h5py.File(path, "r+") as f:
        del f["model_weights/conv2d_2/conv2d_2/kernel"]
        f["model_weights/conv2d_2/conv2d_2/kernel"] = np.zeros((3, 3, 32, 64), "f4")
    with pytest.raises(CorruptFileError, match=r"conv2d_2.*\(3, 3, 32, 64\)"):
        load_fashion_cnn(tmp_path)


def test_wrong_model_file(data_root: Path) -> None:
    with pytest.raises(CorruptFileError, match="fashion_mnist_cnn.h5.*layers"):
        PDFMalwareMLP.from_h5(data_root / "keras" / "fashion_mnist_cnn.h5")
    with pytest.raises(CorruptFileError, match="pdf_mlp.h5"):
        FunctionStartRNN.from_h5(data_root / "keras" / "pdf_mlp.h5")


def test_config_and_backend_are_followed(data_root: Path, tmp_path: Path) -> None:
    path = _copy_model(data_root, tmp_path, "fashion_mnist_cnn.h5")
    theano = FashionMNISTCNN.from_h5(path)
    with h5py.File(path, "r+") as f:
        f.attrs["backend"] = "tensorflow"
    tf = FashionMNISTCNN.from_h5(path)  # a TensorFlow file is not flipped
    assert torch.equal(tf.conv1.weight, theano.conv1.weight.flip(2, 3))
    with h5py.File(path, "r+") as f:
        f.attrs["backend"] = "mxnet"
    with pytest.raises(CorruptFileError, match="backend"):
        FashionMNISTCNN.from_h5(path)

    path = _copy_model(data_root, tmp_path, "O1_Bi_Rnn.h5")
    with h5py.File(path, "r+") as f:
        config = f.attrs["model_config"]
        config = config.decode() if isinstance(config, bytes) else config
        f.attrs["model_config"] = config.replace(
            '"mask_zero": false', '"mask_zero": true'
        )
    with pytest.raises(CorruptFileError, match="mask_zero"):
        FunctionStartRNN.from_h5(path)
