"""A search read back the way keras-tuner's ``Tuner`` answers, for users who know its API:
``get_best_hyperparameters``, ``get_best_models``, ``results_summary``.

A trial here is K fold models scored by cross-validation, so "the best model" is one of two things,
and the method says which: ``get_best_models`` gives the exported model (``best.keras``, retrained
on all the data, as ``digit-tuner export`` made it); ``get_fold_models`` gives the best trial's K
fold models as the search trained them (a search keeps them for its best trial only).
"""

from __future__ import annotations

from pathlib import Path

from tuner.backend import keras

import keras_tuner

from tuner.analysis.page import SearchPage, search_page
from tuner.errors import SearchError
from tuner.models.hypermodels import hyperparameters_for, keras_tuner_space, space_of_manifest
from tuner.search.oracles import OBJECTIVE
from tuner.storage.directory import MODEL_FILE
from tuner.storage.manifest import SearchHandle, open_search, search_dir_for
from tuner.storage.records import TrialRecord, ranked
from tuner.training.fit import fold_models

__all__ = ["SearchResults", "open_results"]


def open_results(name_or_path: str | Path, results_dir: str | Path = "results") -> SearchResults:
    """The search ``name_or_path`` (a name under ``results_dir``, or a directory), read back."""
    return SearchResults(open_search(search_dir_for(results_dir, name_or_path)))


class SearchResults:
    """A search's completed trials, best first, as keras-tuner's ``Tuner`` would give them."""

    def __init__(self, search: SearchHandle):
        self.search = search
        self.directory = search.directory
        self.space = space_of_manifest(search.manifest, search.directory)

    def best_trials(self, num_trials: int = 1) -> list[TrialRecord]:
        """The ``num_trials`` completed trials with the best mean CV accuracy."""
        return ranked(self.search.records)[:num_trials]

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[keras_tuner.HyperParameters]:
        """The hyperparameters of the best trials, as keras-tuner ``HyperParameters``."""
        space_hp = keras_tuner_space(self.space)
        return [
            hyperparameters_for(space_hp, r.hyperparameters) for r in self.best_trials(num_trials)
        ]

    def get_best_models(self, num_models: int = 1) -> list[keras.Model]:
        """The exported model: ``best.keras``, the winner retrained on all the data (or the
        ensemble the export built). A search exports one model, so ``num_models`` is 1."""
        if num_models != 1:
            raise SearchError(
                f"{self.directory}: a search exports one model (num_models=1), got num_models="
                f"{num_models}; get_fold_models() gives the best trial's fold models"
            )
        path = self.directory / MODEL_FILE
        if not path.is_file():
            raise SearchError(
                f"{path}: not exported yet: run `digit-tuner export {self.directory.name}` (or "
                "use get_fold_models() for the best trial's fold models)"
            )
        return [keras.models.load_model(path, compile=False)]

    def get_fold_models(self) -> list[keras.Model]:
        """The best trial's K fold models, as the search trained them."""
        best = self.best_trials(1)
        if not best:
            raise SearchError(f"{self.directory}: no completed trial")
        return fold_models(best[0], self.search.seed, self.space, len(self.search.classes))

    def report(self) -> SearchPage:
        """The search's page (``tuner.analysis.page``): a notebook shows it inline; ``.save(path)``
        writes it as one file."""
        return SearchPage(search_page(self.search))

    def results_summary(self, num_trials: int = 10) -> str:
        """Prints (and returns) the best trials' hyperparameters and scores, as keras-tuner's
        ``results_summary`` does."""
        lines = [
            "Results summary",
            f"Results in {self.directory}",
            f"Showing {num_trials} best trials",
            f'Objective(name="{OBJECTIVE}", direction="max"), mean over the folds',
        ]
        for record in self.best_trials(num_trials):
            lines += ["", f"Trial {record.trial_id} summary", "Hyperparameters:"]
            values = record.hyperparameters.items()  # less the oracles' own marks (tuner/...)
            lines += [f"{name}: {value}" for name, value in values if not name.startswith("tuner/")]
            lines.append(f"Score: {record.mean} (± {record.std} over {len(record.folds)} folds)")
        text = "\n".join(lines)
        print(text)
        return text
