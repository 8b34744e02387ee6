"""A search's ``search.json``: what it records (settings, data, space, versions, provenance), how it
is read back and found by name, and the rules a resume must keep (``check_resume``)."""

from __future__ import annotations

import contextlib
import platform
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import tuner.storage.directory as store
from tuner.data.kaggle import DIGITS, Dataset, data_of_source
from tuner.data.splits import search_part, searched
from tuner.distributed.roles import role
from tuner.errors import SearchError
from tuner.settings import SETTINGS, Resume
from tuner.storage.atomic import json_text, read_json, write_json_atomic
from tuner.storage.directory import MANIFEST, TUNER_DIR
from tuner.storage.records import TrialRecord, best_record, load_records

__all__ = [
    "package_versions",
    "search_dir_for",
    "read_manifest",
    "classes_of",
    "check_same_data",
    "SCORING_SETTINGS",
    "FREE_SETTINGS",
    "check_resume",
    "same_space",
    "prepare_directory",
    "manifest_text",
    "mark_export_stale",
    "SearchHandle",
    "open_search",
]


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (read from metadata, nothing imported)."""
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


def classes_of(manifest: dict[str, Any]) -> tuple[int, ...]:
    """The search's classes: its training labels' values, one per model output (searches
    written before other class sets recorded none: digits)."""
    return tuple(manifest["data"].get("classes", DIGITS))


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


def check_same_data(directory: Path, manifest: dict[str, Any], train: Dataset) -> None:
    """Raises unless ``train`` is the training data the search ran on."""
    if manifest.get("data", {}).get("fingerprint") != train.fingerprint():
        raise SearchError(
            f"{directory}: the search ran on other training data "
            f"({manifest.get('data', {}).get('source')}); got {train.source}"
        )


# Settings that change how a trial is scored must stay as they were on resume, or trials scored
# under different rules would be ranked together; the others may change (``tuner.settings``).
SCORING_SETTINGS = tuple(s.manifest for s in SETTINGS if s.resume is Resume.KEEP)
FREE_SETTINGS = tuple(s.manifest for s in SETTINGS if s.resume is Resume.FREE)


def same_space(old: str | None, new: str) -> bool:
    """Whether two space texts define the same space: a space file's TOML tables (its comments
    and layout may change), or a hypermodel file's source to the letter."""
    if old == new:
        return True
    try:
        return old is not None and tomllib.loads(old) == tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        return False


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
    if not same_space(old.get("space", {}).get("text"), new["space"]["text"]):
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


def prepare_directory(directory: Path, manifest: dict[str, Any], *, overwrite: bool) -> list[str]:
    """Creates, checks or clears a search directory for a search whose ``search.json`` is
    ``manifest`` (call it holding the directory's lock), and writes it: a new search's as it is, a
    resumed one's over the old (keeping when it was created). A distributed worker writes nothing:
    the chief owns the directory, and the worker only checks that it agrees.

    Returns notes on settings a resume changed that do not change scores (time budget, ...).
    """
    directory = Path(directory)
    if role() == "worker":
        if overwrite:
            raise SearchError("--overwrite is for the chief (digit-tuner search), not a worker")
        return check_resume(directory, read_manifest(directory), manifest)
    store.check_usable(directory)
    if overwrite:
        store.clear_search_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not store.is_search_directory(directory):
        write_json_atomic(directory / MANIFEST, manifest)
        return []
    old = read_manifest(directory)
    notes = check_resume(directory, old, manifest)
    manifest["created"] = old.get("created", manifest["created"])
    write_json_atomic(directory / MANIFEST, {**old, **manifest})
    return notes


def manifest_text(manifest: dict[str, Any]) -> str:
    """``search.json``'s text, for a writer that commits it with other files at once (the
    export's ``tuner.storage.directory.commit_files``)."""
    return json_text(manifest)


def mark_export_stale(directory: Path, before: list[TrialRecord], after: list[TrialRecord]) -> None:
    """Says in search.json that an earlier export no longer reflects the search, when trials ended
    since (its files stay until the next export replaces them)."""
    if role() == "worker":
        return
    ended = {r.trial_id for r in after if r.ended}
    ended -= {r.trial_id for r in before if r.ended}
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
    def classes(self) -> tuple[int, ...]:
        return classes_of(self.manifest)

    @property
    def data_source(self) -> str:
        """The ``--data`` value that loads its training data again."""
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
        check_same_data(self.directory, self.manifest, train)
        return search_part(self.manifest, train)

    def searched(self, train: Dataset) -> Dataset:
        """The images the search's folds ran on (its out-of-fold rows): the search part, or the
        subset of it that ``search_images`` chose."""
        check_same_data(self.directory, self.manifest, train)
        return searched(self.manifest, train)


def open_search(directory: str | Path) -> SearchHandle:
    """Reads a search directory's manifest and records (``SearchHandle``).

    Raises:
        SearchError: not a search, or a manifest of the wrong shape.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    return SearchHandle(directory, manifest, load_records(directory / TUNER_DIR))
