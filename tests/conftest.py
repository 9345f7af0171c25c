"""Shared test set-up: the data directory, seeded generators, the CPU."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "TORCHXAI_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["TORCHXAI_DATA"] = str(_SHARED)

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def data_root() -> Path:
    """The data directory the tests read the original files from."""
    root = Path(os.environ["TORCHXAI_DATA"])
    assert root.is_dir(), f"test data directory {root} is missing"
    return root
