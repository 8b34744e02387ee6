"""Reading finished searches: hyperparameter importance, EDA, error analysis, plots and
TensorBoard logs."""
