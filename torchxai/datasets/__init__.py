"""The data sets of the original work: loaders, splits and the containers they fill.

Nothing here is shipped with the package; files are read from the data directory
(``data_dir=`` argument, else ``$TORCHXAI_DATA``, see :mod:`torchxai.datafiles`).

* PDF malware features (contagio, pdfrate attacks): :func:`load_contagio`,
  :func:`load_pdfrate_attacks`, :func:`read_pdfrate_csv`, :func:`binarize`.
* Fashion-MNIST: :func:`load_fashion_mnist`, :func:`read_idx`,
  :data:`FASHION_MNIST_CLASSES`.
* Function starts in ELF binaries: :func:`read_elf_function_starts`,
  :func:`windows_from_text`, :func:`load_function_start_windows`,
  :func:`list_byteweight_binaries`, :func:`split_binaries`.
* :func:`train_test_split`: seeded, stratified split of a labelled data set.
"""

from __future__ import annotations

from torchxai.datasets._split import stratified_split_indices, train_test_split
from torchxai.datasets._types import (
    ElfText,
    ImageDataset,
    SequenceDataset,
    TabularDataset,
)
from torchxai.datasets.contagio import (
    CONTAGIO_FILES,
    FEATURE_NAMES,
    PDFRATE_ATTACKS,
    binarize,
    load_contagio,
    load_pdfrate_attacks,
    read_pdfrate_csv,
)
from torchxai.datasets.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    load_fashion_mnist,
    read_idx,
)
from torchxai.datasets.function_starts import (
    list_byteweight_binaries,
    load_function_start_windows,
    read_elf_function_starts,
    split_binaries,
    windows_from_text,
)

__all__ = [
    "CONTAGIO_FILES",
    "FASHION_MNIST_CLASSES",
    "FEATURE_NAMES",
    "PDFRATE_ATTACKS",
    "ElfText",
    "ImageDataset",
    "SequenceDataset",
    "TabularDataset",
    "binarize",
    "list_byteweight_binaries",
    "load_contagio",
    "load_fashion_mnist",
    "load_function_start_windows",
    "load_pdfrate_attacks",
    "read_elf_function_starts",
    "read_idx",
    "read_pdfrate_csv",
    "split_binaries",
    "stratified_split_indices",
    "train_test_split",
    "windows_from_text",
]
