"""The competition data: Kaggle-format CSVs of 28x28 images (validated: file, line, column) with
their classes taken from the labels, the embedded default digits, and the stratified holdout and
folds."""

from tuner.data.kaggle import (
    DIGITS,
    EMBEDDED,
    IMAGE_SIZE,
    Dataset,
    DigitData,
    load_csv,
    load_data,
    load_embedded,
)
from tuner.data.splits import check_class_sizes, fold_indices, split_holdout

__all__ = [
    "DIGITS",
    "Dataset",
    "DigitData",
    "EMBEDDED",
    "IMAGE_SIZE",
    "check_class_sizes",
    "fold_indices",
    "load_csv",
    "load_data",
    "load_embedded",
    "split_holdout",
]
