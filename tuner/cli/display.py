"""What the search and export commands print: the trials table, the export's summary."""

from __future__ import annotations

from pathlib import Path

from tuner.cli.core import console
from tuner.data.splits import replaced_fits
from tuner.errors import SearchError, UserError
from tuner.export.recipes import candidate_name
from tuner.storage.manifest import SearchHandle, open_search
from tuner.ui.formats import format_score
from tuner.ui.tables import holdout_table, sorted_records, trials_table

__all__ = ["no_completed", "show_export", "show_records", "show_trials"]


def show_trials(directory: Path) -> None:
    show_records(open_search(directory))


def show_records(search: SearchHandle, shown=None) -> None:
    """The trials table of a search (``shown``: a subset), and the best trial."""
    best = search.best
    console.print(
        trials_table(
            sorted_records(search.records) if shown is None else shown,
            search.varying,
            title=f"{search.directory.name}: {len(search.records)} trials",
            best_id=best.trial_id if best else None,
            folds=search.folds,
        )
    )
    if best is not None:
        console.print(
            f"best: trial {best.trial_id}, out-of-fold accuracy {100 * best.oof_accuracy:.2f} % "
            f"over {sum(f.val_size for f in best.folds):,} training images",
            highlight=False,
        )


def no_completed(directory: Path) -> UserError:
    return SearchError(f"{directory}: no trial completed; see `digit-tuner trials` for the reasons")


def _recipe(result) -> str:
    """What was exported, in words: the single model, the winner's models and the images they
    trained on, or the ensemble. A model that went on from a measured one (a warm restart,
    ``tuner.export.exporter._Choice.continues``) stands for both: "13+10 epochs"."""
    if result.ensemble != "none":
        return f"ensemble {result.ensemble}"
    fits = list(result.fits)
    replaced = replaced_fits(fits)
    submitted = [f for i, f in enumerate(fits) if i not in replaced]
    epochs = "/".join(dict.fromkeys(_epochs(fits, f) for f in submitted))
    epochs = f", {epochs} epochs" if epochs else ""
    if replaced:
        epochs += ", going on from the measured model" + ("s" if len(replaced) > 1 else "")
    if len(submitted) <= 1:
        images = f" trained on {submitted[0]['images']:,} images" if submitted else ""
        return f"single model{images}{epochs}"
    groups: dict[tuple[str, int], int] = {}  # (trial, images) -> models, in training order
    for fit in submitted:
        key = (fit.get("trial_id", result.best.trial_id), fit["images"])
        groups[key] = groups.get(key, 0) + 1
    if len({trial for trial, _ in groups}) == 1:
        parts = ", ".join(f"{n} on {images:,} images" for (_, images), n in groups.items())
        return f"{len(submitted)} models of the winner averaged ({parts}{epochs})"
    parts = ", ".join(
        f"{'' if n == 1 else f'{n} of '}trial {trial} on {images:,} images"
        for (trial, images), n in groups.items()
    )
    return f"{len(submitted)} models averaged ({parts}{epochs})"


def _epochs(fits: list[dict], fit: dict) -> str:
    """A final model's epochs; one that went on from another's: both, "13+10"."""
    before = fit.get("continues")
    return str(fit["epochs"]) if before is None else f"{fits[before]['epochs']}+{fit['epochs']}"


def show_export(result) -> None:
    """The export's summary: the winner, the holdout's candidates, the files, the estimate."""
    best = result.best
    console.print(
        f"[bold]best trial {best.trial_id}[/]: CV accuracy {format_score(best.mean, best.std)} % "
        f"over {len(best.folds)} folds; out-of-fold accuracy {100 * best.oof_accuracy:.2f} % "
        f"on {sum(f.val_size for f in best.folds):,} images",
        highlight=False,
    )
    if result.holdout:
        chosen = result.measured or candidate_name(result.ensemble, result.tta)
        console.print(holdout_table(result.holdout, chosen=chosen))
    recipe = _recipe(result)
    tta = f", TTA x{result.tta}" if result.tta > 1 else ""
    console.print(f"exported:   {recipe}{tta}", highlight=False)
    for note in result.budget_notes:
        console.print(f"            {note}", highlight=False)
    console.print(f"model:      {result.model_path}", highlight=False)
    console.print(f"submission: {result.submission_path} ({result.rows:,} rows)", highlight=False)
    if result.estimate is not None:
        e = result.estimate
        console.print(
            f"expected:   {100 * e.accuracy:.2f} % (95 %: {100 * e.low:.2f}-{100 * e.high:.2f}; "
            f"{e.method}, {e.images:,} images): {e.note}",
            highlight=False,
            soft_wrap=True,
        )
    if result.test_accuracy is not None:
        console.print(
            f"test accuracy (embedded labels, unseen by the search): "
            f"{100 * result.test_accuracy:.2f} %",
            highlight=False,
        )
