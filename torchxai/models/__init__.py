"""Torch ports of the three Keras target models of the original work.

The weights are read at load time from the original ``.h5`` files in the data
directory (see :mod:`torchxai.datafiles`), with h5py; nothing is shipped.

* :func:`load_pdf_mlp` -> :class:`PDFMalwareMLP`: float features
  ``(batch, 135)`` (binary), logits ``(batch, 2)``, class 1 = malicious.
* :func:`load_fashion_cnn` -> :class:`FashionMNISTCNN`: float images
  ``(batch, 28, 28)`` or ``(batch, 1, 28, 28)`` in ``[0, 1]``, logits ``(batch, 10)``.
* :func:`load_function_start_rnn` -> :class:`FunctionStartRNN`: integer tokens
  ``(batch, length)`` (byte + 1, 0 = padding), logits ``(batch, length, 2)``,
  class 1 = a function starts at that byte.

Every model has ``forward`` (logits) and ``predict_proba`` (softmax, the Keras
output), works after ``.to(device, dtype)``, and raises
:class:`~torchxai.errors.InvalidInputError` for inputs of the wrong shape, dtype,
device or (tokens) range. Loading raises
:class:`~torchxai.errors.DataFileMissingError` for a missing file and
:class:`~torchxai.errors.CorruptFileError` for a file that is not HDF5 or not the
expected network.
"""

from __future__ import annotations

from torchxai.models.fashion_cnn import (
    FASHION_CNN_FILE,
    FASHION_MNIST_CLASSES,
    FashionMNISTCNN,
    load_fashion_cnn,
)
from torchxai.models.function_start_rnn import (
    FUNCTION_START_RNN_FILE,
    FUNCTION_START_RNN_FIXED_FILE,
    FunctionStartRNN,
    bytes_to_tokens,
    load_function_start_rnn,
)
from torchxai.models.keras_h5 import KerasH5File, KerasLayer, read_keras_h5
from torchxai.models.pdf_mlp import PDF_MLP_FILE, PDFMalwareMLP, load_pdf_mlp

__all__ = [
    "FASHION_CNN_FILE",
    "FASHION_MNIST_CLASSES",
    "FUNCTION_START_RNN_FILE",
    "FUNCTION_START_RNN_FIXED_FILE",
    "PDF_MLP_FILE",
    "FashionMNISTCNN",
    "FunctionStartRNN",
    "KerasH5File",
    "KerasLayer",
    "PDFMalwareMLP",
    "bytes_to_tokens",
    "load_fashion_cnn",
    "load_function_start_rnn",
    "load_pdf_mlp",
    "read_keras_h5",
]
