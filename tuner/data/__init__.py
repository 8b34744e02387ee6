"""The competition data: Kaggle-format CSVs (validated: file, line, column), the embedded default
digits, and the stratified holdout and folds."""

from tuner.data.kaggle import (
    EMBEDDED,
    IMAGE_SIZE,
    N_CLASSES,
    Dataset,
    DigitData,
    load_csv,
    load_data,
    load_embedded,
)
from tuner.data.splits import fold_indices, split_holdout

__all__ = [
    "Dataset",
    "DigitData",
    "EMBEDDED",
    "IMAGE_SIZE",
    "N_CLASSES",
    "fold_indices",
    "load_csv",
    "load_data",
    "load_embedded",
    "split_holdout",
]
