"""The competition data: Kaggle-format CSV files, the embedded default, holdout and folds."""
