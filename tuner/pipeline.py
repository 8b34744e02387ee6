"""The whole job, as the commands run it: what to search, under which name, search, export.

``prepare`` turns what a user gives (a data directory or the embedded digits, a space name or
file, or a hypermodel) into the loaded data, the space and a named ``SearchConfig``; ``search``
runs it (in this process, or as a chief with local workers); ``run`` is ``search`` then
``tuner.export.export_best``, as ``digit-tuner run`` does. Ctrl-C (or SIGTERM through the CLI)
becomes ``SearchInterrupted``, which says how many trials were kept and how to resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner import search as search_module
from tuner.data import EMBEDDED, DigitData
from tuner.errors import SearchFailure
from tuner.progress import Reporter, shown
from tuner.search import SearchResult
from tuner.settings import SearchConfig
from tuner.space import SearchSpace

__all__ = [
    "Job",
    "SearchInterrupted",
    "interrupted",
    "default_name",
    "load_space_or_model",
    "prepare",
    "resume",
    "run",
    "search",
]


class SearchInterrupted(SearchFailure):
    """Ctrl-C: the completed trials are kept; the same command (or ``resume``) goes on."""

    exit_code = 130

    def __init__(self, directory: Path, done: int):
        super().__init__(
            f"interrupted: {done} completed trial(s) kept in {directory}; "
            "run the same command again to resume"
        )
        self.directory, self.done = directory, done


def default_name(space_name: str, data: str | Path | None) -> str:
    """A search's name when none is given: ``<space>-<data directory name>`` (or ``-embedded``)."""
    label = EMBEDDED if data is None or str(data) == EMBEDDED else Path(data).resolve().name
    return f"{space_name}-{label}"


def load_space_or_model(space: str | Path | None = None, model: Any = None) -> SearchSpace:
    """A space file (``quick`` by default), or a hypermodel (``file.py:build`` or a callable)
    with the ``[search]`` settings of ``space``, if given."""
    from tuner.space import load_space

    if model is None:
        return load_space(space or "quick")
    from tuner.backend import import_keras_quietly
    from tuner.hypermodel import load_hypermodel

    import_keras_quietly()  # build(hp) is called once to find its hyperparameters
    return load_hypermodel(model, search=load_space(space).search if space else None)


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
    from tuner.data import load_data

    space_obj = load_space_or_model(space, model)
    digits = load_data(data, test=with_test)
    name = settings.pop("name", None)
    if name is None:  # "" is a name, and refused as one (tuner.store.check_name)
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
                from tuner.distributed import run_distributed

                return run_distributed(
                    job.data.train, job.space, job.config, reporter,
                    workers=workers, bind=bind, port=port,
                )  # fmt: skip
            return search_module.run_search(job.data.train, job.space, job.config, reporter)
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
            return search_module.resume_search(directory, reporter, data=data, **changes)
        except KeyboardInterrupt:
            raise interrupted(Path(directory)) from None


def interrupted(directory: Path) -> SearchInterrupted:
    """The SearchInterrupted of a search stopped by Ctrl-C, counting its completed trials."""
    from tuner.records import TrialState, load_records
    from tuner.store import TUNER_DIR

    done = sum(r.state is TrialState.COMPLETE for r in load_records(directory / TUNER_DIR))
    return SearchInterrupted(directory, done)


def run(
    job: Job,
    reporter: Reporter | None = None,
    *,
    progress: bool = False,
    ensemble: str = "none",
    tta: int | None = None,
):
    """``search`` then ``export_best``: returns (SearchResult, ExportResult, or None when no trial
    completed). The export options are checked before the search starts."""
    from tuner.export import check_recipe, export_best

    check_recipe(ensemble, tta)
    result = search(job, reporter, progress=progress)
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
    )
    return result, exported
