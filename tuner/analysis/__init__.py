"""Reading finished searches: EDA, hyperparameter importance and error analysis (``stats``),
pictures (``plots``), the error report, TensorBoard logs. No Keras."""

from tuner.analysis.report import analyse, write_report
from tuner.analysis.stats import eda, error_analysis, importance

__all__ = [
    "analyse",
    "eda",
    "error_analysis",
    "importance",
    "write_report",
]
