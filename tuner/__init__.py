"""digit-tuner: hyperparameter search for the Kaggle Digit Recognizer, scored by stratified K-fold
CV on augmented folds, with the winner exported as a plain-Keras model and a submission.

The public API, imported on first use (``import tuner`` itself loads neither Keras nor a backend)::

    from tuner import load_data, load_space, SearchConfig, run_search, export_best
    data = load_data()                                   # the embedded 5,000 MNIST digits
    result = run_search(data.train, load_space("quick"), SearchConfig(name="mine"))
    export_best(result.directory, data)                  # best.keras and submission.csv
"""

from __future__ import annotations

from importlib import import_module, metadata

try:
    __version__ = metadata.version("digit-tuner")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

# name -> the module that defines it
_API = {
    "load_data": "tuner.data.kaggle",
    "load_csv": "tuner.data.kaggle",
    "Dataset": "tuner.data.kaggle",
    "DigitData": "tuner.data.kaggle",
    "load_space": "tuner.space.spaces",
    "SearchSpace": "tuner.space.spaces",
    "SearchConfig": "tuner.settings",
    "SearchResult": "tuner.search.driver",
    "resume_search": "tuner.search.driver",
    "open_results": "tuner.search.results",
    "SearchResults": "tuner.search.results",
    "run_search": "tuner.search.driver",
    "export_best": "tuner.export.exporter",
    "ExportResult": "tuner.export.exporter",
    "build_model": "tuner.models.cnn",
    "load_hypermodel": "tuner.models.hypermodels",
    "ModelSource": "tuner.models.hypermodels",
    "TrialRecord": "tuner.storage.records",
    "TrialState": "tuner.storage.records",
    "load_records": "tuner.storage.records",
    "summarize_searches": "tuner.storage.records",
    "PruneSettings": "tuner.pruners.rule",
    "UserError": "tuner.errors",
    "SearchError": "tuner.errors",
    "SearchFailure": "tuner.errors",
}

__all__ = ["__version__", *_API]


# the sub-packages, imported on first use too: ``tuner.space.V5`` after ``import tuner``
_PACKAGES = ("analysis", "cli", "compat", "data", "distributed", "export", "models", "pruners",
             "screening", "search", "space", "storage", "training", "ui")  # fmt: skip


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    if name in _PACKAGES:
        return import_module(f"tuner.{name}")
    raise AttributeError(f"module 'tuner' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
