"""The command line's options, apart from the commands that take them.

A search's settings are not spelled out here: their options (flag, type, help, default) are derived
from ``tuner.settings.SETTINGS``, so that the CLI, a space file's ``[search]`` table and
``search.json`` read one declaration. ``with_search_options`` gives `search` and `run` the same
list; `resume` takes the settings a resumed search may change.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tuner.settings import ORACLES, SearchConfig, Setting, free_settings, options, setting

__all__ = [
    "DataOption",
    "SpaceOption",
    "ModelOption",
    "NameOption",
    "ResultsOption",
    "SearchArgument",
    "SearchDataOption",
    "EnsembleOption",
    "TtaOption",
    "MixedPrecisionOption",
    "Oracle",
    "with_search_options",
    "search_settings",
    "with_resume_options",
    "resume_changes",
]

# str choices as Typer wants them (an Enum), from the settings' declaration
Oracle = Enum("Oracle", {name: name for name in ORACLES}, type=str)

DataOption = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        help="Directory or Kaggle's zip with train.csv[.gz] and test.csv[.gz] (and "
        "sample_submission.csv, whose header and row order the submission takes); default: "
        "in a Kaggle notebook the folder of /kaggle/input holding them, else the embedded "
        "5,000 MNIST digits.",
        show_default=False,
    ),
]
SpaceOption = Annotated[
    Optional[str],
    typer.Option(
        "--space",
        help="Search space: a bundled name (quick, small-vgg, full, v5) or a TOML path "
        "(default: quick). "
        "With --model, only its search table (defaults for trials, folds, ...) is used.",
        show_default=False,
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Show the merged plan (trials, folds, images per fold, epochs, where it writes) and "
        "a time estimate from a few seconds of calibration; train and write nothing.",
    ),
]
ModelOption = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="Your own hypermodel, FILE.py:FUNCTION: a KerasTuner-style build(hp) (or a "
        "keras_tuner.HyperModel) whose model takes 28x28 digits in 0..1 (as (28, 28, 1), (28, 28), "
        "(784,) or with no Input) to one probability or logit per class (10 for digits); the hp.* "
        "its build and fit declare are the search space.",
        show_default=False,
    ),
]
NameOption = Annotated[
    Optional[str],
    typer.Option(
        "--name",
        help="Search name (its directory under --results-dir); default: <space>-<data>.",
        show_default=False,
    ),
]
ResultsOption = Annotated[Path, typer.Option("--results-dir", help="Where searches are kept.")]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Delete an existing search of that name and start anew.")
]
EnsembleOption = Annotated[
    str,
    typer.Option(
        "--ensemble",
        help="none: the winner retrained on all data; folds: the average of the winner's fold "
        "models (no retrain); top-K: the K best trials retrained and averaged.",
    ),
]
TtaOption = Annotated[
    Optional[int],
    typer.Option(
        "--tta",
        help="Average predictions over the image and its 1-pixel shifts: 1 (off), 5 or 9 "
        "(default: 5 if it scores higher on the holdout, else off).",
        show_default=False,
    ),
]
SearchDataOption = Annotated[
    Optional[str],
    typer.Option(
        "--data", help="Data directory (default: the one the search used).", show_default=False
    ),
]
SearchArgument = Annotated[
    Optional[str],
    typer.Argument(
        help="Search name or directory (default: the only search in --results-dir).",
        show_default=False,
    ),
]


def setting_parameter(s: Setting, default: Any) -> inspect.Parameter:
    """The keyword parameter of a setting's option; ``default`` None shows no default."""
    if s.negated:  # a flag that turns the setting off
        kind: Any = bool
        default = False
    else:
        kind = Oracle if s.choices else s.kind
        kind = Optional[kind] if default is None else kind
    option = typer.Option(s.option, help=s.help, show_default=default is not None)
    return inspect.Parameter(
        s.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option]
    )


MixedPrecisionOption = setting_parameter(setting("mixed_precision"), None).annotation


def _search_parameters() -> list[inspect.Parameter]:
    """The options that describe a search, shared by `search` and `run`."""
    from_config = {f.name: f.default for f in dataclasses.fields(SearchConfig)}

    def keyword(name, kind, default):
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
        )

    return [
        keyword("data", DataOption, None),
        keyword("space", SpaceOption, None),
        keyword("model", ModelOption, None),
        keyword("name", NameOption, None),
        keyword("results_dir", ResultsOption, Path("results")),
        keyword("overwrite", OverwriteOption, False),
        *(setting_parameter(s, from_config[s.name]) for s in options()),
        keyword("dry_run", DryRunOption, False),
    ]


def with_search_options(command):
    """The command takes the search options (``_search_parameters``) before its own, and gets
    them in its ``**options``: one list of options for `search` and `run`."""
    return _with_parameters(command, _search_parameters())


def with_resume_options(command):
    """The command takes an option for each setting a resumed search may change (``None``:
    unchanged), and gets them in its ``**options``."""
    free = set(free_settings())
    return _with_parameters(
        command, [setting_parameter(s, None) for s in options() if s.name in free]
    )


def _with_parameters(command, parameters: list[inspect.Parameter]):
    hints = typing.get_type_hints(command, include_extras=True)  # Annotated[..., typer.Option]
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(command).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]

    @functools.wraps(command)
    def wrapper(**kwargs):
        return command(**kwargs)

    wrapper.__signature__ = inspect.Signature([*parameters, *own], return_annotation=None)
    return wrapper


def search_settings(given: dict[str, Any]) -> dict[str, Any]:
    """The SearchConfig fields among a search command's options."""
    settings = {key: given[key] for key in ("name", "results_dir", "overwrite")}
    for s in options():
        value = given[s.name]
        if s.negated:
            value = not value
        settings[s.name] = value.value if isinstance(value, Enum) else value
    return settings


def resume_changes(given: dict[str, Any]) -> dict[str, Any]:
    """The settings a resume changes (None: as it was) among `resume`'s options."""
    changes = {}
    for s in options():
        if s.name in given:
            value = given[s.name]
            changes[s.name] = (False if value else None) if s.negated else value
    return changes
