"""A search's ``search.json``: what it records (settings, data, space, versions, provenance), how it
is read back and found by name, and the rules a resume must keep (``check_resume``)."""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.data import Dataset
from tuner.distributed import role
from tuner.errors import SearchError
from tuner.io import read_json, write_json_atomic
from tuner.records import TrialRecord, TrialState, best_record
from tuner.space import SearchSpace
from tuner.store import MANIFEST

if TYPE_CHECKING:
    from tuner.settings import SearchConfig, SearchPlan

__all__ = [
    "package_versions",
    "provenance",
    "search_dir_for",
    "read_manifest",
    "build_manifest",
    "check_same_data",
    "SCORING_SETTINGS",
    "FREE_SETTINGS",
    "check_resume",
    "space_of_manifest",
    "mark_export_stale",
    "SearchHandle",
    "open_search",
]


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (read from metadata, nothing imported)."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in (
        "digit-tuner",
        "keras",
        "keras-tuner",
        "tensorflow-cpu",
        "tensorflow",
        "jax",
        "torch",
        "numpy",
        "pandas",
        "scikit-learn",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def provenance() -> dict[str, Any]:
    """How and where this process runs: the command line, the project's version and git commit
    (when run from a checkout), and the hardware (``tuner.backend.hardware``)."""
    import shlex
    import subprocess
    import sys
    from importlib import metadata

    from tuner.backend import hardware

    try:
        version = metadata.version("digit-tuner")
    except metadata.PackageNotFoundError:
        version = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if done.returncode == 0:
            commit = done.stdout.strip()
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("__main__.py", "cli.py"):
        program = "digit-tuner"
    return {
        "command": shlex.join([program, *sys.argv[1:]]),
        "version": version,
        "git_commit": commit,
        **hardware(),
    }


def search_dir_for(results_dir: str | Path, name_or_path: str | Path | None) -> Path:
    """Resolves a search given by name (under ``results_dir``) or by path.

    With no name, the only search under ``results_dir``.
    """
    results_dir = Path(results_dir)
    if name_or_path is not None:
        path = Path(name_or_path)
        for candidate in (path, results_dir / path):
            if (candidate / MANIFEST).is_file():
                return candidate
        raise SearchError(f"{results_dir / path}: no search here (no {MANIFEST})")
    found = sorted(p.parent for p in results_dir.glob(f"*/{MANIFEST}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise SearchError(f"{results_dir}: no searches yet (run `digit-tuner search` first)")
    names = ", ".join(p.name for p in found)
    raise SearchError(
        f"{results_dir}: several searches ({names}); name one (`digit-tuner searches` lists them)"
    )


def read_manifest(directory: Path) -> dict[str, Any]:
    """A search's ``search.json``, checked for the sections every command reads."""
    path = Path(directory) / MANIFEST
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise SearchError(f"{directory}: no search here (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        raise SearchError(
            f"{path}: unreadable ({e}); restore it from a backup, or pass --overwrite to start "
            "the search anew"
        ) from None
    shape = {"config": dict, "data": dict, "space": dict}
    wrong = [
        key
        for key, kind in shape.items()
        if not isinstance(manifest, dict) or not isinstance(manifest.get(key), kind)
    ]
    if wrong:
        raise SearchError(
            f"{path}: not a digit-tuner manifest (no {', '.join(wrong)} section); restore it "
            "from a backup, or pass --overwrite to start the search anew"
        )
    return manifest


def build_manifest(
    config: SearchConfig, space: SearchSpace, train: Dataset, plan: SearchPlan
) -> dict[str, Any]:
    import keras

    return {
        "name": config.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": {
            "max_trials": plan.max_trials,
            "folds": plan.folds,
            "seed": config.seed,
            "oracle": plan.oracle,
            "prune": plan.prune,
            "prune_margin": config.prune_margin,
            "early_stopping": plan.early_stopping,
            "time_budget_minutes": plan.time_budget,
            "run_budget_minutes": plan.run_budget,
            "holdout": config.holdout or None,
            "holdout_size": 0 if plan.holdout is None else len(plan.holdout),
            "search_images": plan.search_images,
            "final_epochs": plan.final_epochs,
            "mixed_precision": plan.mixed_precision,
            "max_consecutive_failures": config.max_consecutive_failures,
            "trial_timeout": plan.trial_timeout,
            "isolate": config.isolate,
            "screen": None
            if plan.screening is None
            else {
                "size": plan.screening.size,
                "epochs": plan.screening.epochs,
                "keep": plan.screening.promoted,
            },
        },
        "data": {
            "source": train.source,
            "train_size": len(train),
            "fingerprint": train.fingerprint(),
        },
        "space": {
            "name": space.name,
            "path": space.path,
            "text": space.text,
            "varying": space.varying(),
            "model": space.model_reference,
        },
        "backend": keras.backend.backend(),
        "versions": package_versions(),
        "provenance": provenance(),
    }


def check_same_data(directory: Path, manifest: dict[str, Any], train: Dataset) -> None:
    """Raises unless ``train`` is the training data the search ran on."""
    if manifest.get("data", {}).get("fingerprint") != train.fingerprint():
        raise SearchError(
            f"{directory}: the search ran on other training data "
            f"({manifest.get('data', {}).get('source')}); got {train.source}"
        )


# Settings that change how a trial is scored: a resumed search must keep them, or trials scored
# under different rules would be ranked together. The others may change on resume (with a note).
SCORING_SETTINGS = (
    "seed",
    "folds",
    "oracle",
    "holdout",
    "search_images",
    "prune",
    "prune_margin",
    "early_stopping",
    "mixed_precision",
    "screen",  # the oracle's rounds are saved with it
)


FREE_SETTINGS = (
    "max_trials",
    "time_budget_minutes",
    "run_budget_minutes",
    "max_consecutive_failures",
    "trial_timeout",
    "isolate",
    "final_epochs",
)


def check_resume(directory: Path, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Raises when a resumed search would score trials differently; returns notes on the settings
    that changed and may (they change what runs, not how a trial is scored)."""
    fix = "pass --overwrite to start it anew, or --name for a new search"
    old_config = old.get("config", {})
    if old.get("data", {}).get("fingerprint") != new["data"]["fingerprint"]:
        raise SearchError(
            f"{directory}: this search was started on other training data "
            f"(was {old.get('data', {}).get('source')}, now {new['data']['source']}); {fix}"
        )
    if old.get("space", {}).get("text") != new["space"]["text"]:
        raise SearchError(
            f"{directory}: this search was started with a different search space; {fix}"
        )
    for key in SCORING_SETTINGS:
        if key not in old_config:  # a search made by an older version: nothing to compare
            continue
        before, now = old_config[key], new["config"][key]
        if before != now:
            raise SearchError(
                f"{directory}: this search was started with a different {key.replace('_', ' ')} "
                f"(was {before}, now {now}): trials scored under both would be ranked "
                f"together; {fix}"
            )
    notes = []
    for key in FREE_SETTINGS:
        before, now = old_config.get(key), new["config"].get(key)
        if key in old_config and before != now:
            notes.append(f"{key.replace('_', ' ')}: was {before}, now {now} (scores unaffected)")
    return notes


def space_of_manifest(manifest: dict[str, Any], directory: str | Path) -> SearchSpace:
    """The search space a search ran with: its space file's text as ``search.json`` keeps it (the
    file itself may have moved), or its hypermodel's file, which must not have changed."""
    from tuner.hypermodel import space_of_search
    from tuner.space import parse_space

    space = space_of_search(manifest, directory)
    if space is not None:
        return space
    section = manifest["space"]
    name = section.get("name") or "space"
    return parse_space(section["text"], Path(section.get("path") or f"{name}.toml"))


def mark_export_stale(directory: Path, before: list[TrialRecord], after: list[TrialRecord]) -> None:
    """Says in search.json that an earlier export no longer reflects the search, when trials ended
    since (its files stay until the next export replaces them)."""
    if role() == "worker":
        return
    ended = {r.trial_id for r in after if r.state is not TrialState.RUNNING}
    ended -= {r.trial_id for r in before if r.state is not TrialState.RUNNING}
    if not ended:
        return
    manifest = read_manifest(directory)
    if "export" in manifest and not manifest["export"].get("stale"):
        manifest["export"]["stale"] = (
            f"{len(ended)} trial(s) ended after this export; run `digit-tuner export` again"
        )
        write_json_atomic(directory / MANIFEST, manifest)


@dataclass(frozen=True)
class SearchHandle:
    """A search directory read once: its ``search.json`` and its trials' records, for the
    commands that look into a finished (or running) search: trials, report, export, ..."""

    directory: Path
    manifest: dict[str, Any]
    records: list[TrialRecord]

    @property
    def varying(self) -> list[str]:
        """The hyperparameters its space draws."""
        return list(self.manifest["space"].get("varying", []))

    @property
    def folds(self) -> int | None:
        return self.manifest["config"].get("folds")

    @property
    def seed(self) -> int:
        return int(self.manifest["config"].get("seed", 0))

    @property
    def best(self) -> TrialRecord | None:
        return best_record(self.records)

    @property
    def data_source(self) -> str:
        """The ``--data`` value that loads its training data again."""
        from tuner.data import data_of_source

        return data_of_source(self.manifest["data"]["source"])

    def record(self, trial_id: str) -> TrialRecord:
        found = {r.trial_id: r for r in self.records}
        if trial_id not in found:
            raise SearchError(
                f"{self.directory}: no trial {trial_id!r} (trials: {', '.join(found)})"
            )
        return found[trial_id]

    def parts(self, train: Dataset) -> tuple[Dataset, Dataset | None]:
        """(search part, holdout) of ``train``, checked to be the data the search ran on."""
        from tuner.splits import search_part

        check_same_data(self.directory, self.manifest, train)
        return search_part(self.manifest, train)

    def searched(self, train: Dataset) -> Dataset:
        """The images the search's folds ran on (its out-of-fold rows): the search part, or the
        subset of it that ``search_images`` chose."""
        from tuner.splits import searched

        check_same_data(self.directory, self.manifest, train)
        return searched(self.manifest, train)


def open_search(directory: str | Path) -> SearchHandle:
    """Reads a search directory's manifest and records (``SearchHandle``).

    Raises:
        SearchError: not a search, or a manifest of the wrong shape.
    """
    from tuner.records import load_records
    from tuner.store import TUNER_DIR

    directory = Path(directory)
    manifest = read_manifest(directory)
    return SearchHandle(directory, manifest, load_records(directory / TUNER_DIR))
