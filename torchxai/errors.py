"""The errors and warnings torchxai raises.

Every public entry point either works or raises one of these. Each subclasses the
built-in exception a caller would catch anyway (``ValueError``, ``FileNotFoundError``,
``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class TorchXAIError(Exception):
    """Base class of every error raised by torchxai."""


class InvalidInputError(TorchXAIError, ValueError):
    """An argument has the wrong shape, dtype, range or value."""


class DataFileMissingError(TorchXAIError, FileNotFoundError):
    """A data file (model weights, data set) is not in the data directory."""


class CorruptFileError(TorchXAIError, ValueError):
    """A file exists but its content is not what was expected."""


class FitError(TorchXAIError, RuntimeError):
    """A surrogate fit broke down (NaN loss, singular system, model failure)."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before reaching its tolerance."""
