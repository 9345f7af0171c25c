"""Hostile and broken input: every public entry point works or raises a torchxai error.

Hypothesis draws random shapes, dtypes, NaN and inf values, empty batches, huge k,
misbehaving models, and truncated or damaged ``.h5``, ELF, CSV, npz and
saved-explanation files. An entry point passes when it returns a sane result or
raises a :class:`~torchxai.errors.TorchXAIError`; any other exception fails. Every
test runs under an alarm, so a hang fails too. Each case once found to raise a raw
exception has its own test below, so a regression shows up by name.
"""

from __future__ import annotations

import contextlib
import gc
import io
import math
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torchxai
from torchxai import datasets, metrics, models
from torchxai.errors import CorruptFileError, InvalidInputError, TorchXAIError
from torchxai.explanation import Explanation
from torchxai.testing import PlantedSequenceModel, PlantedTabularModel, top_k_recall

pytestmark = pytest.mark.filterwarnings("ignore::torchxai.errors.ConvergenceWarning")

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALARM_SECONDS = 120
METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "random": {},
    "lime": {"n_samples": 30},
    "lemna": {"n_samples": 30, "n_components": 2, "em_iter": 3},
}
MLP = "keras/pdf_mlp.h5"
ELF = "byteweight_elf_x86_32_gcc_O1/elf/coreutils/gcc_coreutils_32_O1_ls"
CSV = "contagio/contagio-mal.csv"
NPZ = "fashion_mnist/fmnist_test_9680.npz"


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` hides it."""


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang(f"the test ran longer than {ALARM_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(ALARM_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _works_or_library_error(call: Callable[[], Any]) -> Any:
    """Run ``call``; a TorchXAIError is fine (returns None), anything else raises."""
    try:
        return call()
    except TorchXAIError:
        return None


def _probability_model(x: torch.Tensor) -> torch.Tensor:
    """A sane classifier of any input: softmax of a linear function of x."""
    flat = x.reshape(x.shape[0], -1).to(torch.float64)
    z = 0.1 * flat.sum(dim=1) + 0.5 * flat[:, 0]
    return torch.stack([z, -z], dim=1).softmax(dim=1)


# ------------------------------------------------------------------ explain


DTYPES = [
    torch.float16,
    torch.float32,
    torch.float64,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
]


@st.composite
def input_batches(draw: st.DrawFn) -> torch.Tensor:
    """Batches of 0-3 inputs of 1-3 dims (sizes 1-3), any dtype, maybe NaN/inf."""
    batch = draw(st.integers(0, 3))
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    dtype = draw(st.sampled_from(DTYPES))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = (4 * torch.rand((batch, *shape), generator=gen)).to(dtype)
    special = draw(st.sampled_from([None, math.nan, math.inf, -math.inf]))
    if special is not None and dtype.is_floating_point and x.numel():
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = special
    return x


@FAST
@given(x=input_batches(), method=st.sampled_from(sorted(METHOD_OPTIONS)))
def test_explain_random_inputs(x: torch.Tensor, method: str) -> None:
    valid = x.shape[0] > 0 and bool(torch.isfinite(x.to(torch.float64)).all())
    call = lambda: torchxai.explain(  # noqa: E731
        _probability_model, x, method, **METHOD_OPTIONS[method]
    )
    if not valid:
        with pytest.raises(InvalidInputError):
            call()
        return
    explanation = _works_or_library_error(call)
    if explanation is not None:
        assert explanation.scores.shape == x.shape
        assert bool(torch.isfinite(explanation.scores).all())


class _Misbehaving:
    """A model that answers garbage of one kind (after ``good_calls`` sane calls)."""

    def __init__(self, kind: str, good_calls: int) -> None:
        self.kind, self.good_calls, self.calls = kind, good_calls, 0

    def __call__(self, x: torch.Tensor) -> Any:
        self.calls += 1
        if self.calls <= self.good_calls:
            return _probability_model(x)
        n = x.shape[0]
        answers: dict[str, Callable[[], Any]] = {
            "value error": lambda: int("not a number"),
            "runtime error": lambda: torch.zeros(2) @ torch.zeros(3),
            "torchxai error": lambda: (_ for _ in ()).throw(InvalidInputError("no")),
            "none": lambda: None,
            "list": lambda: [[0.5, 0.5]] * n,
            "numpy": lambda: np.full((n, 2), 0.5),
            "wrong batch": lambda: torch.full((n + 1, 2), 0.5),
            "one dim": lambda: torch.full((n,), 0.5),
            "four dims": lambda: torch.full((n, 1, 1, 2), 0.5),
            "no classes": lambda: torch.zeros(n, 0),
            "nan": lambda: torch.full((n, 2), math.nan),
            "inf": lambda: torch.full((n, 2), math.inf),
            "integers": lambda: torch.ones(n, 2, dtype=torch.int64),
            "complex": lambda: torch.full((n, 2), 0.5, dtype=torch.complex64),
            "negative": lambda: torch.tensor([[-0.5, 1.5]]).repeat(n, 1),
            "not summing to one": lambda: torch.full((n, 2), 0.9),
            "more classes": lambda: torch.full((n, 3 + self.calls), 0.1),
        }
        return answers[self.kind]()


@FAST
@given(
    kind=st.sampled_from(
        [
            "value error",
            "runtime error",
            "torchxai error",
            "none",
            "list",
            "numpy",
            "wrong batch",
            "one dim",
            "four dims",
            "no classes",
            "nan",
            "inf",
            "integers",
            "complex",
            "negative",
            "not summing to one",
            "more classes",
        ]
    ),
    good_calls=st.integers(0, 2),
    method=st.sampled_from(sorted(METHOD_OPTIONS)),
)
def test_explain_misbehaving_models(kind: str, good_calls: int, method: str) -> None:
    model = _Misbehaving(kind, good_calls)
    x = torch.rand(3, 5)
    call = lambda: torchxai.explain(model, x, method, **METHOD_OPTIONS[method])  # noqa: E731
    if good_calls == 0:
        with pytest.raises(TorchXAIError):
            call()
    else:  # garbage on the perturbed copies only: caught there, or never asked
        explanation = _works_or_library_error(call)
        if explanation is not None:
            assert bool(torch.isfinite(explanation.scores).all())


@FAST
@given(
    options=st.fixed_dictionaries(
        {},
        optional={
            "n_samples": st.one_of(
                st.integers(-5, 60), st.floats(), st.text(max_size=2)
            ),
            "seed": st.one_of(st.integers(-(2**70), 2**70), st.none(), st.floats()),
            "batch_size": st.one_of(st.integers(-1, 10**15), st.booleans()),
            "baseline": st.one_of(st.floats(), st.just(torch.zeros(7))),
            "window": st.integers(-2, 10**12),
            "output": st.sampled_from(["logits", "probabilities", "log", None]),
            "sampler": st.sampled_from(["tabular", "sequence", "image", "audio", None]),
            "no_such_option": st.just(1),
            "skip_baseline_features": st.one_of(st.booleans(), st.text(max_size=2)),
        },
    ),
    method=st.sampled_from(sorted(METHOD_OPTIONS)),
    zeros=st.integers(0, 12),
)
def test_explain_random_options(
    options: dict[str, Any], method: str, zeros: int
) -> None:
    merged = {**METHOD_OPTIONS[method], **options}
    x = torch.rand(2, 6)
    x.view(-1)[:zeros] = 0.0  # features at the baseline, up to whole inputs
    explanation = _works_or_library_error(
        lambda: torchxai.explain(_probability_model, x, method, **merged)
    )
    if explanation is not None:
        assert bool(torch.isfinite(explanation.scores).all())


@FAST
@given(
    options=st.fixed_dictionaries(
        {},
        optional={
            "lam1": st.one_of(st.floats(), st.integers(-1, 10**6)),
            "lam2": st.one_of(
                st.floats(), st.integers(-1, 10**6), st.sampled_from(["auto", "x"])
            ),
            "kernel_width": st.floats(),
            "em_tol": st.floats(),
            "solver_tol": st.floats(),
            "penalty_scale": st.sampled_from(["relative", "absolute", "other"]),
            "num_features": st.one_of(st.integers(-1, 20), st.none()),
        },
    ),
    method=st.sampled_from(["lime", "lemna"]),
)
def test_explain_random_method_options(options: dict[str, Any], method: str) -> None:
    if method == "lime":
        options.pop("lam2", None)
        options.pop("em_tol", None)
    else:
        options.pop("kernel_width", None)
        options.pop("num_features", None)
    merged = {**METHOD_OPTIONS[method], **options}
    explanation = _works_or_library_error(
        lambda: torchxai.explain(_probability_model, torch.rand(2, 6), method, **merged)
    )
    if explanation is not None:
        assert bool(torch.isfinite(explanation.scores).all())


@FAST
@given(
    tokens=st.lists(st.integers(-3, 300), min_size=1, max_size=12),
    position=st.integers(-2, 14),
    float_tokens=st.booleans(),
)
def test_explain_sequence_labeller_with_random_tokens(
    tokens: list[int], position: int, float_tokens: bool
) -> None:
    model = PlantedSequenceModel()
    x = torch.tensor([tokens], dtype=torch.float32 if float_tokens else torch.int64)
    valid = not float_tokens and min(tokens) >= 0 and max(tokens) <= 256
    valid = valid and 0 <= position < len(tokens)
    call = lambda: torchxai.explain(  # noqa: E731
        model, x, "lime", target=(position, 1), output="logits", n_samples=20
    )
    if not valid:
        with pytest.raises(TorchXAIError):
            call()
    else:
        assert call().scores.shape == x.shape


@pytest.mark.parametrize("method", ["random", "lime"])
def test_explain_zero_width_inputs(method: str) -> None:
    def model(x: torch.Tensor) -> torch.Tensor:  # fine with zero columns
        z = x.sum(dim=1)
        return torch.stack([z, -z], dim=1).softmax(dim=1)

    with pytest.raises(TorchXAIError):
        torchxai.explain(model, torch.zeros(2, 0), method)


# ---------------------------------------------------------------- top-k, metrics


@FAST
@given(k=st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.booleans(), st.none()))
def test_top_k_with_any_k(k: Any) -> None:
    explanation = Explanation(
        scores=torch.rand(2, 3, 2),
        method="test",
        target=torch.zeros(2, dtype=torch.int64),
        fit_rmse=torch.zeros(2),
    )
    valid = isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 6
    for call in (explanation.top_k, explanation.top_k_mask):
        if valid:
            assert call(k).shape[0] == 2
        else:
            with pytest.raises(InvalidInputError):
                call(k)


@FAST
@given(
    scores=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=8
    ),
    k=st.integers(-2, 12),
    relevant_bits=st.integers(0, 255),
)
def test_recall_and_metrics_with_any_scores(
    scores: list[float], k: int, relevant_bits: int
) -> None:
    tensor = torch.tensor([scores])
    relevant = torch.tensor(
        [[bool(relevant_bits >> i & 1) for i in range(len(scores))]]
    )
    explanation = Explanation(
        scores=tensor,
        method="test",
        target=torch.ones(1, dtype=torch.int64),
        fit_rmse=torch.zeros(1),
    )
    recall = _works_or_library_error(lambda: top_k_recall(explanation, relevant, k))
    if recall is not None:
        assert 0 <= float(recall) <= 1 + 1e-12
    value = _works_or_library_error(lambda: metrics.sparsity(explanation))
    if value is not None:
        assert math.isnan(float(value)) or 0 <= float(value) <= 1
    model = PlantedTabularModel(len(scores), relevant=(0,))
    inputs = torch.ones(1, len(scores))
    _works_or_library_error(
        lambda: metrics.descriptive_accuracy(
            model, inputs, explanation, n_steps=max(k, 1), output="logits"
        )
    )


# ---------------------------------------------------------------- file helpers


@pytest.fixture(scope="module")
def originals() -> dict[str, bytes]:
    root = Path(os.environ["TORCHXAI_DATA"])
    return {
        name: (root / name).read_bytes()[: 20000 if name == CSV else None]
        for name in (MLP, ELF, CSV)
    }


def _write(tmp_path: Path, relative: str, data: bytes) -> Path:
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


# ------------------------------------------------------------------------ .h5


@FAST
@given(fraction=st.floats(0.0, 0.999))
def test_truncated_h5(fraction: float, tmp_path: Path, originals: dict) -> None:
    data = originals[MLP]
    path = _write(tmp_path, MLP, data[: int(fraction * len(data))])
    with pytest.raises(CorruptFileError):
        models.load_pdf_mlp(tmp_path)
    with pytest.raises(CorruptFileError):
        models.PDFMalwareMLP.from_h5(path)


@pytest.mark.parametrize(
    "loader",
    [models.load_pdf_mlp, models.load_fashion_cnn, models.load_function_start_rnn],
)
def test_h5_of_another_model(loader: Callable, tmp_path: Path, originals: dict) -> None:
    rnn = (Path(os.environ["TORCHXAI_DATA"]) / "keras/O1_Bi_Rnn.h5").read_bytes()
    _write(tmp_path, MLP, rnn)
    _write(tmp_path, "keras/fashion_mnist_cnn.h5", originals[MLP])
    _write(tmp_path, "keras/O1_Bi_Rnn.h5", originals[MLP])
    with pytest.raises(CorruptFileError):
        loader(tmp_path)


def test_h5_with_damaged_interior(tmp_path: Path, originals: dict) -> None:
    data = originals[MLP]
    _write(tmp_path, MLP, data[:2000] + bytes(1000) + data[3000:])
    with pytest.raises(TorchXAIError):
        models.load_pdf_mlp(tmp_path)


# ------------------------------------------------------------------------ ELF


@FAST
@given(
    fraction=st.floats(0.0, 0.999),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)
def test_truncated_or_damaged_elf(
    fraction: float, flips: list, tmp_path: Path, originals: dict
) -> None:
    data = bytearray(originals[ELF][: max(1, int(fraction * len(originals[ELF])))])
    for where, value in flips:
        if where < len(data):
            data[where] = value
    path = _write(tmp_path, "bin/broken", bytes(data))
    text = _works_or_library_error(lambda: datasets.read_elf_function_starts(path))
    if text is not None:
        assert text.code.shape == text.is_start.shape
    windows = _works_or_library_error(
        lambda: datasets.load_function_start_windows([path])
    )
    if windows is not None:
        assert windows.tokens.shape == windows.labels.shape


def test_elf_entry_points_on_missing_and_odd_paths(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path):
        with pytest.raises(TorchXAIError):
            datasets.read_elf_function_starts(path)
    with pytest.raises(TorchXAIError):
        datasets.list_byteweight_binaries(tmp_path)


# ------------------------------------------------------------------------ CSV


@FAST
@given(
    fraction=st.floats(0.0, 1.0),
    edits=st.lists(
        st.tuples(st.integers(0, 19999), st.sampled_from(list(b',\n"xTRUEF0.9-'))),
        max_size=4,
    ),
)
def test_truncated_or_damaged_csv(
    fraction: float, edits: list, tmp_path: Path, originals: dict
) -> None:
    data = bytearray(originals[CSV][: int(fraction * len(originals[CSV]))])
    for where, value in edits:
        if where < len(data):
            data[where] = value
    path = _write(tmp_path, "contagio/contagio-mal.csv", bytes(data))
    _write(tmp_path, "contagio/contagio-ben.csv", bytes(data))
    table = _works_or_library_error(lambda: datasets.read_pdfrate_csv(path))
    if table is not None:
        assert table.features.shape == (len(table.labels), 135)
    _works_or_library_error(lambda: datasets.load_contagio(tmp_path))


@pytest.mark.parametrize("entry", ["read_pdfrate_csv", "load_contagio"])
def test_csv_with_non_utf8_bytes(entry: str, tmp_path: Path, originals: dict) -> None:
    data = originals[CSV][:3000].replace(b"a", b"\xe9")
    path = _write(tmp_path, "contagio/contagio-mal.csv", data)
    _write(tmp_path, "contagio/contagio-ben.csv", data)
    with pytest.raises(TorchXAIError):
        if entry == "read_pdfrate_csv":
            datasets.read_pdfrate_csv(path)
        else:
            datasets.load_contagio(tmp_path)


@pytest.mark.parametrize("name", ["missing.csv", "."])
def test_csv_reader_on_missing_path_or_folder(name: str, tmp_path: Path) -> None:
    with pytest.raises(TorchXAIError):
        datasets.read_pdfrate_csv(tmp_path / name)


# ------------------------------------------------------------------------ npz


@contextlib.contextmanager
def _collect_leaked_files() -> Iterator[None]:
    """Collect garbage inside the test: a leaked file handle of load_fashion_mnist
    then fails this test (ResourceWarning is an error) rather than a later one."""
    try:
        yield
    finally:
        gc.collect()


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"not a zip file at all",
        _npz_bytes(x=np.zeros(3)),
        _npz_bytes(x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.full(2, 12)),
        _npz_bytes(x=np.array([None], dtype=object)),
    ],
    ids=["text", "wrong keys", "bad labels", "pickled objects"],
)
def test_broken_npz(data: bytes, tmp_path: Path) -> None:
    _write(tmp_path, NPZ, data)
    with _collect_leaked_files(), pytest.raises(TorchXAIError):
        datasets.load_fashion_mnist("test", tmp_path)


@pytest.mark.parametrize(
    "cut", [0, 0.5, None], ids=["empty", "truncated", "zip header"]
)
def test_empty_or_truncated_npz(cut: float | None, tmp_path: Path) -> None:
    good = Path(os.environ["TORCHXAI_DATA"]) / NPZ
    size = good.stat().st_size
    with good.open("rb") as handle:
        data = handle.read(int(cut * size)) if cut is not None else b""
    _write(tmp_path, NPZ, data if cut is not None else b"PK\x03\x04" + bytes(100))
    with _collect_leaked_files(), pytest.raises(TorchXAIError):
        datasets.load_fashion_mnist("test", tmp_path)


# --------------------------------------------------------- saved explanations


def _saved_explanation(tmp_path: Path) -> tuple[Explanation, bytes]:
    explanation = torchxai.explain(_probability_model, torch.rand(3, 4), "random")
    path = tmp_path / "good.pt"
    explanation.save(path)
    return explanation, path.read_bytes()


@FAST
@given(
    fraction=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=3),
)
def test_truncated_or_damaged_explanation_file(
    fraction: float, flips: list, tmp_path: Path
) -> None:
    original, data = _saved_explanation(tmp_path)
    damaged = bytearray(data[: int(fraction * len(data))])
    for where, value in flips:
        if damaged:
            damaged[int(where * (len(damaged) - 1))] = value
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(damaged))
    loaded = _works_or_library_error(lambda: Explanation.load(path))
    if loaded is not None:
        assert loaded.scores.shape == original.scores.shape


@pytest.mark.parametrize(
    "payload",
    [
        torch.zeros(3),
        {"meta": "{}", "tensors": {}},
        {"meta": "not json", "tensors": {}},
        {"meta": 5, "tensors": {}},
        {"meta": "[]", "tensors": {}},
    ],
    ids=["tensor", "empty meta", "bad json", "meta not text", "meta a list"],
)
def test_foreign_torch_files(payload: Any, tmp_path: Path) -> None:
    torch.save(payload, tmp_path / "foreign.pt")
    with pytest.raises(CorruptFileError):
        Explanation.load(tmp_path / "foreign.pt")


_META = '{"format": "torchxai.Explanation", "version": 1, "method": "x", '


@pytest.mark.parametrize(
    "payload",
    [
        {
            "meta": _META + '"seed": "abc", "options": {}}',
            "tensors": {
                "scores": torch.zeros(2, 3),
                "target": torch.zeros(2),
                "fit_rmse": torch.zeros(2),
            },
        },
        {
            "meta": _META + '"seed": 0, "options": {}}',
            "tensors": {
                "scores": [1.0],
                "target": torch.zeros(2),
                "fit_rmse": torch.zeros(2),
            },
        },
    ],
    ids=["seed not an integer", "scores not a tensor"],
)
def test_explanation_file_with_wrong_value_types(payload: Any, tmp_path: Path) -> None:
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(TorchXAIError):
        Explanation.load(tmp_path / "odd.pt")


def test_explanation_load_missing_path(tmp_path: Path) -> None:
    with pytest.raises(TorchXAIError):
        Explanation.load(tmp_path / "missing.pt")


def test_explanation_save_onto_a_folder(tmp_path: Path) -> None:
    explanation, _ = _saved_explanation(tmp_path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(TorchXAIError):
        explanation.save(tmp_path / "folder")


def test_failed_save_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    explanation, data = _saved_explanation(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    def broken_save(obj: object, stream: Any, *args: Any, **kwargs: Any) -> None:
        stream.write(b"PK\x03\x04partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        explanation.save(tmp_path / "good.pt")
    with pytest.raises(OSError, match="disk full"):
        explanation.save(tmp_path / "new.pt")
    assert (tmp_path / "good.pt").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("case", ["scores a list", "empty batch"])
def test_explanation_constructor_and_empty_batch(case: str) -> None:
    if case == "scores a list":
        with pytest.raises(InvalidInputError):
            Explanation(
                scores=[[1.0]],  # type: ignore[arg-type]
                method="x",
                target=torch.zeros(1),
                fit_rmse=torch.zeros(1),
            )
    else:  # an empty batch has an empty ranking, not an error
        empty = Explanation(
            scores=torch.zeros(0, 3),
            method="x",
            target=torch.zeros(0),
            fit_rmse=torch.zeros(0),
        )
        assert empty.top_k(1).shape == (0, 1)
        assert empty.top_k_mask(1).shape == (0, 3)


def test_windows_with_huge_window() -> None:
    with pytest.raises(TorchXAIError):
        datasets.windows_from_text(
            np.zeros(5, np.uint8), np.zeros(5, bool), window=10**12
        )


# -------------------------------------------------------------- models' inputs


@FAST
@given(x=input_batches(), which=st.sampled_from(["mlp", "rnn", "cnn"]))
def test_ported_models_with_random_inputs(x: torch.Tensor, which: str) -> None:
    model = _ported()[which]
    out = _works_or_library_error(lambda: model(x))
    if out is not None:
        assert out.shape[0] == x.shape[0]


_MODELS: dict[str, torch.nn.Module] = {}


def _ported() -> dict[str, torch.nn.Module]:
    if not _MODELS:
        _MODELS.update(
            mlp=models.load_pdf_mlp(),
            rnn=models.load_function_start_rnn(),
            cnn=models.load_fashion_cnn(),
        )
    return _MODELS
