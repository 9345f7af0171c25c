"""torchxai: explain black-box deep-learning models with mixture regression."""

from __future__ import annotations

from torchxai.errors import (
    ConvergenceWarning,
    CorruptFileError,
    DataFileMissingError,
    FitError,
    InvalidInputError,
    TorchXAIError,
)
from torchxai.explain import explain
from torchxai.explanation import Explanation

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "CorruptFileError",
    "DataFileMissingError",
    "Explanation",
    "FitError",
    "InvalidInputError",
    "TorchXAIError",
    "__version__",
    "explain",
]
