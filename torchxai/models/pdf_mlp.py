"""The PDF malware classifier of DMM (Guo et al., NeurIPS 2018), ported from Keras.

The file ``keras/pdf_mlp.h5`` (Keras 2.0.8, Theano backend) holds a ``Sequential``
model::

    Dense(100, sigmoid) -> Dropout(0.2) -> Dense(50, sigmoid) -> Dropout(0.2)
    -> Dense(10, sigmoid) -> Dropout(0.2) -> Dense(2, softmax)

Input: a float tensor of shape ``(batch, 135)``: the 135 Mimicus/PDFrate features
in the column order of ``contagio/contagio-*.csv`` (after the ``class`` and
``filename`` columns), binarized: ``1.0`` where the feature is positive (or
``TRUE``), else ``0.0``. Output: logits of shape ``(batch, 2)``; class 0 = benign,
class 1 = malicious. Dropout is kept as ``nn.Dropout`` and is the identity in
``eval`` mode, the mode the loader returns.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from torchxai.models._common import (
    KerasPort,
    finish,
    read_model_file,
    to_parameter,
)
from torchxai.models.keras_h5 import KerasH5File, read_keras_h5

__all__ = ["PDF_MLP_FILE", "PDFMalwareMLP", "load_pdf_mlp"]

PDF_MLP_FILE = "keras/pdf_mlp.h5"

_LAYERS = ("Dense", "Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense")
_SIZES = (135, 100, 50, 10, 2)
_DROPOUT = 0.2


class PDFMalwareMLP(KerasPort):
    """135-100-50-10-2 MLP with sigmoid hidden layers; class 1 = malicious.

    ``forward(x)`` takes ``x`` of shape ``(batch, 135)`` (binary features as
    floats, the model's dtype and device) and returns logits ``(batch, 2)``;
    ``predict_proba`` returns their softmax, the Keras model's output.
    """

    n_features = 135
    class_names = ("benign", "malicious")

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(_SIZES[:-2], _SIZES[1:-1], strict=True)
        )
        self.dropout = nn.Dropout(_DROPOUT)
        self.out = nn.Linear(_SIZES[-2], _SIZES[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 2)`` for features ``x`` of shape ``(batch, 135)``."""
        h = self._check_float_input(x, ((self.n_features,),), "features")
        for layer in self.hidden:
            h = self.dropout(torch.sigmoid(layer(h)))
        return self.out(h)

    @classmethod
    def from_keras(cls, h5: KerasH5File) -> PDFMalwareMLP:
        """Build the port from a read Keras file, checking its layers and shapes.

        Raises:
            CorruptFileError: the file's layers, activations or shapes differ.
        """
        layers = h5.expect_layers(_LAYERS)
        dense = [layer for layer in layers if layer.class_name == "Dense"]
        model = cls()
        targets = [*model.hidden, model.out]
        for i, (layer, target) in enumerate(zip(dense, targets, strict=True)):
            last = i == len(dense) - 1
            h5.expect_config(layer, "activation", "softmax" if last else "sigmoid")
            h5.expect_config(layer, "use_bias", True)
            n_in, n_out = _SIZES[i], _SIZES[i + 1]
            kernel = h5.weight(layer, "kernel", (n_in, n_out))
            bias = h5.weight(layer, "bias", (n_out,))
            target.weight = to_parameter(kernel.T)  # Keras: x @ kernel
            target.bias = to_parameter(bias)
        for layer in layers:
            if layer.class_name == "Dropout":
                h5.expect_config(layer, "rate", _DROPOUT)
        model._record_source(h5)
        return model

    @classmethod
    def from_h5(cls, path: str | os.PathLike[str]) -> PDFMalwareMLP:
        """Read ``path`` (a Keras ``.h5`` file) and build the port, in eval mode."""
        model = cls.from_keras(read_keras_h5(path))
        model.eval()
        return model


def load_pdf_mlp(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> PDFMalwareMLP:
    """Load the DMM PDF malware MLP from ``keras/pdf_mlp.h5`` in the data directory.

    Args:
        data_dir: the data directory (default: ``$TORCHXAI_DATA`` or the cache).
        device: where to put the model (default: the CPU).
        dtype: a floating dtype (default: float32, the file's).

    Raises:
        DataFileMissingError: the file is not in the data directory.
        CorruptFileError: the file is not HDF5 or not the expected network.
    """
    model = PDFMalwareMLP.from_keras(read_model_file(PDF_MLP_FILE, data_dir))
    finish(model, device, dtype)
    return model
