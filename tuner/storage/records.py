"""Trial records: what a finished (or failed) trial leaves on disk, read back as frozen dataclasses.

keras-tuner keeps each trial's status, hyperparameters and score in ``trial_<id>/trial.json``; the CV
tuner adds ``trial_<id>/cv.json`` with the per-fold scores, epochs, times and learning curves, and
``trial_<id>/oof.npy`` with the out-of-fold class probabilities. Rendering lives elsewhere
(``tuner.ui.tables``); this module only reads, writes and ranks.
"""

from __future__ import annotations

import enum
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import SearchError
from tuner.storage.atomic import read_json, write_json_atomic
from tuner.storage.directory import CV_FILE, MANIFEST, TRIAL_FILE, TUNER_DIR, in_use

__all__ = [
    "TrialState",
    "FoldResult",
    "TrialRecord",
    "write_cv",
    "load_records",
    "best_record",
    "ranked",
    "SearchSummary",
    "summarize_searches",
]


class TrialState(str, enum.Enum):
    """The state of a trial, as the records show it."""

    RUNNING = "RUNNING"  # started and not finished (or interrupted: a resumed search redoes it)
    # ended, but its records cannot be read back (a torn cv.json, a stopped trial without one):
    # the next resume redoes it alone
    DAMAGED = "DAMAGED"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"  # stopped after some folds: it could not reach the best trial's score
    FAILED = "FAILED"

    @classmethod
    def from_keras_tuner(cls, status: str) -> TrialState:
        if status == "COMPLETED":
            return cls.COMPLETE
        if status in ("FAILED", "INVALID"):
            return cls.FAILED
        return cls.RUNNING


@dataclass(frozen=True)
class FoldResult:
    """One fold of one trial."""

    fold: int
    val_accuracy: float
    val_loss: float
    epochs: int  # epochs trained
    train_seconds: float  # wall time of fit, validation passes included
    train_size: int
    val_size: int
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch Keras logs
    best_epoch: int | None = None  # with early stopping: the epoch (from 1) whose weights were kept
    # of train_seconds, the per-epoch validation passes (0 in records of versions that did not time them)
    validation_seconds: float = 0.0
    # epochs trained before this run of the fold, by the screen (or Hyperband round) it went on
    # from: ``epochs`` counts them, ``train_seconds`` does not
    started_from: int = 0


@dataclass(frozen=True)
class TrialRecord:
    """A trial as the search left it."""

    trial_id: str
    state: TrialState
    hyperparameters: dict[str, Any]
    folds: tuple[FoldResult, ...] = ()
    params: int | None = None  # trainable and non-trainable parameters of the model
    seconds: float | None = None  # wall time of the whole trial
    message: str | None = None  # why it failed
    path: str = ""
    worker: str | None = None  # keras-tuner tuner id of the process that ran it
    gpu: str | None = None  # the GPU its worker was given (CUDA_VISIBLE_DEVICES), if any

    @property
    def ended(self) -> bool:
        """Whether the trial ended and its records say how (complete, pruned or failed)."""
        return self.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)

    @property
    def mean(self) -> float | None:
        """Mean validation accuracy over the folds (the search's objective)."""
        if not self.folds:
            return None
        return statistics.fmean(f.val_accuracy for f in self.folds)

    @property
    def oof_accuracy(self) -> float | None:
        """Accuracy over every out-of-fold prediction (folds weighted by their size)."""
        if not self.folds:
            return None
        right = sum(f.val_accuracy * f.val_size for f in self.folds)
        return right / sum(f.val_size for f in self.folds)

    @property
    def retrain_epochs(self) -> int | None:
        """With early stopping, the median of the folds' best epochs; else None (use ``epochs``)."""
        best = [f.best_epoch for f in self.folds if f.best_epoch is not None]
        return max(1, round(statistics.median(best))) if best else None

    @property
    def std(self) -> float | None:
        """Population standard deviation of the folds' validation accuracy."""
        if not self.folds:
            return None
        return statistics.pstdev(f.val_accuracy for f in self.folds)

    @property
    def reason(self) -> str | None:
        """The last line of the failure message: what went wrong, in one line."""
        if not self.message:
            return None
        lines = [line.strip() for line in self.message.strip().splitlines() if line.strip()]
        if not lines:
            return None
        # "keras_tuner.src.errors.FailedTrialError: fold 0: ..." -> "fold 0: ..."
        name, _, text = lines[-1].partition(": ")
        return text if name.endswith("FailedTrialError") else lines[-1]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["mean"] = self.mean
        data["std"] = self.std
        data["oof_accuracy"] = self.oof_accuracy
        return data


def write_cv(
    trial_dir: Path,
    *,
    folds: list[FoldResult],
    params: int,
    seconds: float,
    worker: str | None = None,
    pruned: str | None = None,
    gpu: str | None = None,
) -> None:
    """Writes a trial's CV results (atomically) beside keras-tuner's trial.json.

    ``pruned`` is why the trial stopped before its last fold (None: it ran every fold).
    """
    write_json_atomic(
        Path(trial_dir) / CV_FILE,
        {
            "folds": [asdict(f) for f in folds],
            "params": params,
            "seconds": seconds,
            "worker": worker,
            "pruned": pruned,
            "gpu": gpu,  # the device the trial trained on (CUDA_VISIBLE_DEVICES), if one was set
        },
    )


def _read_trial(trial_dir: Path) -> TrialRecord:
    try:
        trial = read_json(trial_dir / TRIAL_FILE)
        status = trial["status"]
        values = trial["hyperparameters"]["values"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise SearchError(
            f"{trial_dir / TRIAL_FILE}: unreadable trial record ({type(e).__name__}: {e}); "
            "the search directory is damaged: rerun with --overwrite to start anew"
        ) from None
    state = TrialState.from_keras_tuner(status)
    folds: tuple[FoldResult, ...] = ()
    params = seconds = worker = gpu = None
    message = trial.get("message")
    cv_path = trial_dir / CV_FILE
    if status == "STOPPED":  # a pruned trial, ended without a final score
        state = TrialState.COMPLETE if cv_path.exists() else TrialState.DAMAGED
    if state is TrialState.COMPLETE:
        try:
            cv = read_json(cv_path)
            folds = tuple(FoldResult(**f) for f in cv["folds"])
            params, seconds = cv["params"], cv["seconds"]
            worker, gpu = cv.get("worker"), cv.get("gpu")
            if cv.get("pruned"):
                state, message = TrialState.PRUNED, cv["pruned"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            # A resumed search redoes this one trial, nothing else.
            state = TrialState.DAMAGED
            message = (
                f"{cv_path.name} unreadable ({type(e).__name__}: {e}); "
                "the next resume of the search redoes this trial"
            )
    return TrialRecord(
        trial_id=str(trial["trial_id"]),
        state=state,
        hyperparameters=dict(values),
        folds=folds,
        params=params,
        seconds=seconds,
        message=message,
        path=str(trial_dir),
        worker=worker,
        gpu=gpu,
    )


def load_records(tuner_dir: str | Path) -> list[TrialRecord]:
    """All trials of a search, in trial-id order."""
    tuner_dir = Path(tuner_dir)
    if not tuner_dir.is_dir():
        return []
    # keras-tuner creates a trial's directory just before its trial.json: a directory without one
    # is a trial being created (another process of a distributed search may be at it), not damage.
    records = [
        _read_trial(d)
        for d in sorted(tuner_dir.glob("trial_*"))
        if d.is_dir() and (d / TRIAL_FILE).exists()
    ]
    return sorted(records, key=lambda r: int(r.trial_id) if r.trial_id.isdigit() else r.trial_id)


def ranked(records: list[TrialRecord]) -> list[TrialRecord]:
    """The completed trials, best mean CV accuracy first (ties: the earlier trial); never a
    pruned, failed or unfinished one. The one ranking of the search, the export, the tables."""
    complete = [r for r in records if r.state is TrialState.COMPLETE and r.mean is not None]
    return sorted(complete, key=lambda r: (-r.mean, int(r.trial_id) if r.trial_id.isdigit() else 0))


def best_record(records: list[TrialRecord]) -> TrialRecord | None:
    """The first of ``ranked``: the completed trial with the highest mean CV accuracy."""
    best = ranked(records)
    return best[0] if best else None


@dataclass(frozen=True)
class SearchSummary:
    """One search of a results directory, as `digit-tuner searches` lists it."""

    name: str
    path: str
    space: str
    data: str
    planned: int | None  # trials in all, as the search was last run
    ended: int  # trials that completed, were pruned or failed
    complete: int
    best: float | None  # the best completed trial's CV accuracy
    state: str  # running (its lock is held) | exported | finished | stopped | damaged
    created: str | None = None


def summarize_searches(results_dir: str | Path) -> list[SearchSummary]:
    """Every search under ``results_dir`` (a folder with search.json), newest first."""
    found = []
    for manifest_path in sorted(Path(results_dir).glob(f"*/{MANIFEST}")):
        directory = manifest_path.parent
        try:
            manifest = read_json(manifest_path)
            config, data, space = manifest["config"], manifest["data"], manifest["space"]
            records = load_records(directory / TUNER_DIR)
        except (OSError, ValueError, KeyError, TypeError, SearchError):
            found.append(SearchSummary(directory.name, str(directory), "?", "?", None, 0, 0,
                                       None, "damaged"))  # fmt: skip
            continue
        ended = [r for r in records if r.ended]
        best = best_record(records)
        planned = config.get("max_trials")
        if in_use(directory):
            state = "running"
        elif "export" in manifest and not manifest["export"].get("stale"):
            state = "exported"
        elif planned is not None and len(ended) >= planned:
            state = "finished"
        else:
            state = "stopped"
        found.append(
            SearchSummary(
                name=directory.name,
                path=str(directory),
                space=str(space.get("name")),
                data=str(data.get("source")),
                planned=planned,
                ended=len(ended),
                complete=sum(r.state is TrialState.COMPLETE for r in records),
                best=best.mean if best else None,
                state=state,
                created=manifest.get("created"),
            )
        )
    return sorted(found, key=lambda s: s.created or "", reverse=True)
