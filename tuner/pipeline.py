"""The library API the commands run: what to search, under which name, search, export, predict.

Importing it loads Keras (through ``tuner.backend``); the CLI imports it only in the commands that
train, build or predict, so that listing searches and trials stays quick.

``prepare`` turns what a user gives (a data directory or the embedded digits, a space name or
file, or a hypermodel) into the loaded data, the space and a named ``SearchConfig``; ``search``
runs it (in this process, or as a chief with local workers); ``run`` is ``search`` then
``tuner.export.exporter.export_best``, as ``digit-tuner run`` does. Ctrl-C (or SIGTERM through the CLI)
becomes ``SearchInterrupted``, which says how many trials were kept and how to resume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuner.analysis.plots import MOST_ROWS
from tuner.data.kaggle import EMBEDDED, DigitData, load_data
from tuner.distributed.launcher import run_distributed
from tuner.errors import SearchInterrupted
from tuner.export.exporter import ExportResult, export_best
from tuner.export.inference import predict_file
from tuner.export.recipes import check_recipe
from tuner.models.augmentation import augmented_copies
from tuner.models.hypermodels import build, load_hypermodel, space_of_search
from tuner.search.driver import SearchResult, resume_search, run_search
from tuner.search.dryrun import DryRun, dry_run
from tuner.search.plan import SearchConfig
from tuner.space.spaces import SearchSpace, load_search_defaults, load_space
from tuner.space.values import resolve_values
from tuner.storage.directory import TUNER_DIR
from tuner.storage.manifest import SearchHandle
from tuner.storage.records import TrialState, load_records
from tuner.ui.events import Reporter
from tuner.ui.reporters import shown

__all__ = [
    "DryRun",
    "ExportResult",
    "augmented_samples",
    "dry_run",
    "export_best",
    "model_summary",
    "predict_file",
    "Job",
    "interrupted",
    "default_name",
    "load_space_or_model",
    "prepare",
    "resume",
    "run",
    "search",
]


def default_name(space_name: str, data: str | Path | None) -> str:
    """A search's name when none is given: ``<space>-<data directory name>`` (or ``-embedded``)."""
    label = EMBEDDED if data is None or str(data) == EMBEDDED else Path(data).resolve().name
    return f"{space_name}-{label}"


def load_space_or_model(space: str | Path | None = None, model: Any = None) -> SearchSpace:
    """A space file (``quick`` by default), or a hypermodel (``file.py:build`` or a callable)
    with the ``[search]`` settings of ``space``, if given."""
    if model is None:
        return load_space(space or "quick")
    return load_hypermodel(model, search=load_search_defaults(space) if space else None)


@dataclass(frozen=True)
class Job:
    """A search, ready to run: its data, space and settings (named)."""

    data: DigitData
    space: SearchSpace
    config: SearchConfig


def prepare(
    data: str | Path | None = None,
    space: str | Path | None = None,
    *,
    model: Any = None,
    with_test: bool = False,
    **settings: Any,
) -> Job:
    """Loads and checks what a search needs, in the order that costs least when it is wrong (the
    space, then the data); ``settings`` are ``SearchConfig`` fields, ``name`` defaulting to
    ``default_name``."""
    space_obj = load_space_or_model(space, model)
    digits = load_data(data, test=with_test)
    name = settings.pop("name", None)
    if name is None:  # "" is a name, and refused as one (tuner.storage.directory.check_name)
        name = default_name(space_obj.name, data)
    return Job(digits, space_obj, SearchConfig(name=name, **settings))


def search(
    job: Job,
    reporter: Reporter | None = None,
    *,
    progress: bool = False,
    workers: int = 0,
    bind: str = "127.0.0.1",
    port: int | None = None,
) -> SearchResult:
    """Runs (or resumes) the job's search: in this process, or as a keras-tuner chief with
    ``workers`` local worker processes (``tuner.distributed.run_distributed``) when ``workers``
    or ``port`` is given.

    Raises:
        SearchInterrupted: on Ctrl-C, after the search stopped cleanly.
    """
    with shown(reporter, progress, job.space.varying()) as reporter:
        try:
            if workers or port is not None:
                return run_distributed(
                    job.data.train, job.space, job.config, reporter,
                    workers=workers, bind=bind, port=port,
                )  # fmt: skip
            return run_search(job.data.train, job.space, job.config, reporter)
        except KeyboardInterrupt:
            raise interrupted(job.config.directory) from None


def resume(
    directory: str | Path,
    reporter: Reporter | None = None,
    *,
    progress: bool = False,
    data: str | Path | None = None,
    **changes: Any,
) -> SearchResult:
    """``tuner.search.resume_search`` (a search goes on with its recorded settings; a distributed
    search's chief and workers run this way), Ctrl-C as ``SearchInterrupted``."""
    with shown(reporter, progress) as reporter:
        try:
            return resume_search(directory, reporter, data=data, **changes)
        except KeyboardInterrupt:
            raise interrupted(Path(directory)) from None


def interrupted(directory: Path) -> SearchInterrupted:
    """The SearchInterrupted of a search stopped by Ctrl-C, counting its completed trials."""
    done = sum(r.state is TrialState.COMPLETE for r in load_records(directory / TUNER_DIR))
    return SearchInterrupted(directory, done)


def run(
    job: Job,
    reporter: Reporter | None = None,
    *,
    progress: bool = False,
    ensemble: str = "none",
    tta: int | None = None,
    workers: int = 0,
    bind: str = "127.0.0.1",
    port: int | None = None,
):
    """``search`` (distributed as ``search`` is, with ``workers`` or ``port``) then
    ``export_best`` here: returns (SearchResult, ExportResult, or None when no trial
    completed). The export options are checked before the search starts."""
    started = time.monotonic()  # the run budget's start (tuner.export.exporter.export_best)
    check_recipe(ensemble, tta)
    result = search(job, reporter, progress=progress, workers=workers, bind=bind, port=port)
    if result.best is None:
        return result, None
    exported = export_best(
        result.directory,
        job.data,
        reporter,
        progress=progress,
        mixed_precision=job.config.mixed_precision,
        ensemble=ensemble,
        tta=tta,
        run_started=started,
    )
    return result, exported


def model_summary(search: SearchHandle, trial_id: str) -> list[str]:
    """The Keras summary of one trial's model, built anew (its space's hypermodel, if any)."""
    record = search.record(trial_id)
    space = space_of_search(search.manifest, search.directory)
    model = build(resolve_values(record.hyperparameters, space), space=space)
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line))
    return lines


def augmented_samples(search: SearchHandle, images, labels, copies: int = 6):
    """One training image of each class and ``copies`` augmented copies of it, drawn as the
    winner's trials drew them (its ``augment_strength``): (originals, copies, strength), for the
    page's data section; None when no trial completed."""
    best = search.best
    if best is None:
        return None
    space = space_of_search(search.manifest, search.directory)
    strength = float(resolve_values(best.hyperparameters, space).get("augment_strength", 0.0))
    picks = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)[:MOST_ROWS]]
    return images[picks], augmented_copies(images[picks], strength, copies), strength
