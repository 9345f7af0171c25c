"""The binary function-start detector of LEMNA (Guo et al., CCS 2018), from Keras.

The files ``keras/O1_Bi_Rnn.h5`` (Keras 2.0.8, Theano backend) and
``keras/O1_Bi_Rnn_fixed.h5`` (the same network after LEMNA-guided patching,
re-saved by Keras 2.2.4 with TensorFlow; its weight names end in ``:0``) hold a
``Sequential`` model::

    Embedding(257, 16, mask_zero=False)
    -> Bidirectional(SimpleRNN(8, relu, return_sequences=True), merge_mode="concat")
    -> TimeDistributed(Dense(2, softmax))

Input: integer tokens of shape ``(batch, length)``, token = byte value + 1, and 0
the padding / blank token (LEMNA writes 0 into the positions it switches off;
note that the original training code padded short sequences with byte 0 *before*
adding 1, so its padding read as token 1). :func:`bytes_to_tokens` makes the
tokens from raw bytes. The model was trained on windows of 200 bytes; any length
runs. The file says ``mask_zero=False``: token 0 is an ordinary embedding row, not
a mask, and the port treats it so.
Output: logits ``(batch, length, 2)`` at every position; class 1 = a function
starts at that byte.

The recurrence of a Keras ``SimpleRNN`` (both backends) is
``h_t = relu(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)`` with ``h_0 = 0`` and
a single bias; ``nn.RNN`` has two, so ``bias_hh`` is set to zero. The backward
direction reads the reversed sequence and its outputs are reversed back before the
concatenation ``[forward, backward]``, which is what a bidirectional ``nn.RNN``
does. The training-time input dropout of the Keras layer (``dropout=0.5``) is not
reproduced: the port is for inference, and the loader returns it in ``eval`` mode.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from torchxai.errors import InvalidInputError
from torchxai.models._common import (
    KerasPort,
    _check_dtype_device,
    finish,
    read_model_file,
    to_parameter,
)
from torchxai.models.keras_h5 import KerasH5File, read_keras_h5

__all__ = [
    "FUNCTION_START_RNN_FILE",
    "FUNCTION_START_RNN_FIXED_FILE",
    "FunctionStartRNN",
    "bytes_to_tokens",
    "load_function_start_rnn",
]

FUNCTION_START_RNN_FILE = "keras/O1_Bi_Rnn.h5"
FUNCTION_START_RNN_FIXED_FILE = "keras/O1_Bi_Rnn_fixed.h5"

_LAYERS = ("Embedding", "Bidirectional", "TimeDistributed")
VOCAB_SIZE = 257
EMBED_DIM = 16
HIDDEN = 8
WINDOW = 200


def bytes_to_tokens(data: bytes | bytearray | np.ndarray) -> torch.Tensor:
    """Tokens of raw bytes: ``byte + 1`` as an int64 tensor of the same length.

    Args:
        data: bytes, or a uint8 array of any shape.
    """
    if isinstance(data, (bytes, bytearray)):
        array = np.frombuffer(bytes(data), dtype=np.uint8)
    else:
        array = np.asarray(data)
        if array.dtype != np.uint8:
            raise InvalidInputError(
                "bytes_to_tokens expects bytes or a uint8 array, "
                f"got dtype {array.dtype}"
            )
    return torch.from_numpy(array.astype(np.int64) + 1)


class FunctionStartRNN(KerasPort):
    """Embedding 257x16, bidirectional relu SimpleRNN (8 + 8), dense 2 per position.

    ``forward(tokens)`` takes integer tokens ``(batch, length)`` in ``0..256`` on the
    model's device and returns logits ``(batch, length, 2)``; ``predict_proba``
    returns their softmax (class 1 = function start). ``logits_from_embeddings``
    runs the network from the embedded sequence, for gradient-based explanations.
    """

    vocab_size = VOCAB_SIZE
    window = WINDOW
    class_names = ("not a function start", "function start")

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB_SIZE, EMBED_DIM)
        self.rnn = nn.RNN(
            EMBED_DIM,
            HIDDEN,
            nonlinearity="relu",
            batch_first=True,
            bidirectional=True,
        )
        self.dense = nn.Linear(2 * HIDDEN, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, length, 2)`` for integer tokens ``(batch, length)``."""
        self._check_tokens(tokens)
        return self.logits_from_embeddings(self.embedding(tokens.long()))

    def logits_from_embeddings(self, embedded: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, length, 2)`` from embeddings ``(batch, length, 16)``."""
        if (
            not isinstance(embedded, torch.Tensor)
            or embedded.dim() != 3
            or embedded.shape[-1] != EMBED_DIM
            or embedded.shape[0] < 1
            or embedded.shape[1] < 1
        ):
            shape = (
                tuple(embedded.shape) if isinstance(embedded, torch.Tensor) else None
            )
            raise InvalidInputError(
                f"{type(self).__name__} expects embeddings of shape "
                f"(batch >= 1, length >= 1, {EMBED_DIM}), got {shape}"
            )
        _check_dtype_device(self, embedded, self.embedding.weight)
        states, _ = self.rnn(embedded)
        return self.dense(states)

    def _check_tokens(self, tokens: object) -> None:
        name = type(self).__name__
        if not isinstance(tokens, torch.Tensor):
            raise InvalidInputError(
                f"{name} expects a torch.Tensor of integer tokens, "
                f"got {type(tokens).__name__}"
            )
        if tokens.dim() != 2 or tokens.shape[0] < 1 or tokens.shape[1] < 1:
            raise InvalidInputError(
                f"{name} expects tokens of shape (batch >= 1, length >= 1), "
                f"got {tuple(tokens.shape)}; for one sequence use tokens[None]"
            )
        if (
            tokens.is_floating_point()
            or tokens.is_complex()
            or tokens.dtype == torch.bool
        ):
            raise InvalidInputError(
                f"{name} expects integer tokens (byte value + 1, 0 = padding), "
                f"got dtype {tokens.dtype}"
            )
        device = self.embedding.weight.device
        if tokens.device != device:
            raise InvalidInputError(
                f"{name} is on {device} but the tokens are on {tokens.device}; "
                "move one of them with .to(device)"
            )
        low, high = int(tokens.min()), int(tokens.max())
        if low < 0 or high > VOCAB_SIZE - 1:
            raise InvalidInputError(
                f"{name} expects tokens in 0..{VOCAB_SIZE - 1} (byte value + 1, "
                f"0 = padding), got values in {low}..{high}"
            )

    @classmethod
    def from_keras(cls, h5: KerasH5File) -> FunctionStartRNN:
        """Build the port from a read Keras file, checking its layers and shapes.

        Raises:
            CorruptFileError: the file's layers, settings or shapes differ.
        """
        embedding, bidirectional, distributed = h5.expect_layers(_LAYERS)
        h5.expect_config(embedding, "input_dim", VOCAB_SIZE)
        h5.expect_config(embedding, "output_dim", EMBED_DIM)
        h5.expect_config(embedding, "mask_zero", False)
        h5.expect_config(bidirectional, "merge_mode", "concat")
        inner = bidirectional.config.get("layer")
        if (
            not isinstance(inner, dict)
            or inner.get("class_name") != "SimpleRNN"
            or not isinstance(inner.get("config"), dict)
        ):
            found = inner.get("class_name") if isinstance(inner, dict) else None
            raise h5.error(
                f"layer {bidirectional.name!r} does not wrap a SimpleRNN "
                f"(found {found!r})"
            )
        rnn_config = inner["config"]
        for key, value in (
            ("units", HIDDEN),
            ("activation", "relu"),
            ("use_bias", True),
            ("return_sequences", True),
            ("go_backwards", False),
            ("stateful", False),
        ):
            if rnn_config.get(key, "<missing>") != value:
                raise h5.error(
                    f"the SimpleRNN in {bidirectional.name!r} has "
                    f"{key}={rnn_config.get(key, '<missing>')!r}, "
                    f"this port implements {key}={value!r}"
                )
        inner_dense = distributed.config.get("layer")
        if (
            not isinstance(inner_dense, dict)
            or inner_dense.get("class_name") != "Dense"
            or not isinstance(inner_dense.get("config"), dict)
            or inner_dense["config"].get("activation") != "softmax"
        ):
            raise h5.error(
                f"layer {distributed.name!r} does not wrap a Dense softmax layer"
            )

        model = cls()
        model.embedding.weight = to_parameter(
            h5.weight(embedding, "embeddings", (VOCAB_SIZE, EMBED_DIM))
        )
        rnn_name = str(rnn_config.get("name", "simple_rnn_1"))
        with torch.no_grad():
            for direction, suffix in (("forward", ""), ("backward", "_reverse")):
                prefix = f"{direction}_{rnn_name}/"
                kernel = h5.weight(
                    bidirectional, prefix + "kernel", (EMBED_DIM, HIDDEN)
                )
                recurrent = h5.weight(
                    bidirectional, prefix + "recurrent_kernel", (HIDDEN, HIDDEN)
                )
                bias = h5.weight(bidirectional, prefix + "bias", (HIDDEN,))
                getattr(model.rnn, f"weight_ih_l0{suffix}").copy_(
                    torch.from_numpy(kernel.T)
                )
                getattr(model.rnn, f"weight_hh_l0{suffix}").copy_(
                    torch.from_numpy(recurrent.T)
                )
                getattr(model.rnn, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(bias))
                getattr(model.rnn, f"bias_hh_l0{suffix}").zero_()  # Keras: one bias
        model.dense.weight = to_parameter(
            h5.weight(distributed, "kernel", (2 * HIDDEN, 2)).T
        )
        model.dense.bias = to_parameter(h5.weight(distributed, "bias", (2,)))
        model._record_source(h5)
        return model

    @classmethod
    def from_h5(cls, path: str | os.PathLike[str]) -> FunctionStartRNN:
        """Read ``path`` (a Keras ``.h5`` file) and build the port, in eval mode."""
        model = cls.from_keras(read_keras_h5(path))
        model.eval()
        return model


def load_function_start_rnn(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    fixed: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> FunctionStartRNN:
    """Load the LEMNA function-start RNN from ``keras/O1_Bi_Rnn.h5``.

    Args:
        data_dir: the data directory (default: ``$TORCHXAI_DATA`` or the cache).
        fixed: load ``keras/O1_Bi_Rnn_fixed.h5``, the model after LEMNA's patching.
        device: where to put the model (default: the CPU).
        dtype: a floating dtype for the weights (default: float32, the file's);
            the input stays integer tokens.

    Raises:
        DataFileMissingError: the file is not in the data directory.
        CorruptFileError: the file is not HDF5 or not the expected network.
    """
    relative = FUNCTION_START_RNN_FIXED_FILE if fixed else FUNCTION_START_RNN_FILE
    model = FunctionStartRNN.from_keras(read_model_file(relative, data_dir))
    finish(model, device, dtype)
    return model
