"""One self-contained HTML page of a search (``report.html``): everything inline (charts as SVG,
pictures as data URIs, a few lines of script to sort and filter the trials), so it opens offline
in any browser, or inline in a notebook, with no server and no file beside it.

While the search runs the tuner rewrites it after each trial (atomically, as every file of the
search directory) with a reload every few seconds; a finished search's page does not reload.
Sections whose data does not exist yet (no completed trial, no export, no error analysis) say so
in one line.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.analysis.stats import importance, importance_basis
from tuner.analysis.svg import Series, chart
from tuner.data.splits import replaced_fits
from tuner.screening.marks import is_screen
from tuner.storage.atomic import write_text_atomic
from tuner.storage.directory import PLOTS_DIR
from tuner.storage.manifest import SearchHandle, open_search
from tuner.storage.records import TrialRecord, TrialState, ranked

__all__ = [
    "PAGE_FILE",
    "RELOAD_SECONDS",
    "SearchPage",
    "search_page",
    "comparison_page",
    "write_page",
    "refresh_page",
]

PAGE_FILE = "report.html"
RELOAD_SECONDS = 10
_CELL_CHARS = 48  # a table cell's text beyond this shows on hover: the rows stay one line
# the pictures `digit-tuner report` (and `eda`) draw, shown where they exist: never drawn twice
PICTURES = {
    "confusion_matrix.png": "Confusion matrix (out-of-fold)",
    "misclassified.png": "Misclassified digits: true label, prediction, confidence",
    "confidence.png": "Confidence of right and wrong predictions",
    "class_counts.png": "Class balance",
    "samples.png": "Sample digits",
    "pixels.png": "How often each pixel is inked; the always-zero pixels in red",
    "augmented.png": "What the winner trained on: an image of each class and augmented copies",
}
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;margin-top:1.8em}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;border-bottom:1px solid #eee;
text-align:right}th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}
td.text,th.text{text-align:left;white-space:nowrap}.wide{overflow-x:auto}.empty{color:#888;font-style:italic}
.chart{width:100%;max-width:720px}.tick,.legend{font-size:10px}.axis{font-size:11px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.COMPLETE{color:#161}.PRUNED{color:#666}.FAILED{color:#b00}img{max-width:100%}
"""
SCRIPT = """
function sortBy(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),
b=t.tBodies[0],up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';
const v=r=>{const c=r.children[i].dataset.v??r.children[i].textContent;const n=parseFloat(c);
return isNaN(n)?c:n};[...b.rows].sort((x,y)=>{const a=v(x),c=v(y);
return (a>c?1:a<c?-1:0)*(up?1:-1)}).forEach(r=>b.appendChild(r))}
function filterState(s){document.querySelectorAll('#trials tbody tr').forEach(
r=>{r.style.display=(!s||r.dataset.state===s)?'':'none'})}
"""


@dataclass(frozen=True)
class SearchPage:
    """The page of a search, for a notebook: it displays inline (``_repr_html_``: in a frame of
    its own, so that its style leaves the notebook's alone) and can be saved."""

    html: str

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            'style="width:100%;height:900px;border:1px solid #ddd"></iframe>'
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(path, self.html)
        return path


def write_page(directory: Path, *, live: bool = False) -> Path:
    """Writes ``report.html`` of the search in ``directory`` (atomically); returns its path."""
    search = open_search(directory)
    path = Path(directory) / PAGE_FILE
    write_text_atomic(path, search_page(search, live=live))
    return path


def refresh_page(directory: Path, *, live: bool) -> None:
    """``write_page`` for a search or an export under way: the page is a view, so a failure to
    write it (a full disk, a damaged record) never stops or fails what it shows."""
    try:
        write_page(directory, live=live)
    except Exception:  # noqa: BLE001 - the next trial's page may well succeed
        return


def search_page(search: SearchHandle, *, live: bool = False) -> str:
    """The page's HTML: with ``live``, it reloads itself every ``RELOAD_SECONDS``."""
    name = search.manifest.get("name", search.directory.name)
    sections = [
        _section("The search at a glance", _glance(search)),
        _section("Trials", _trials(search)),
        _section("The search over time", _over_time(search.records)),
        _section("Hyperparameters", _hyperparameters(search, rank=not live)),
        _section("Learning curves of the best trials", _curves(search.records)),
        _section("Where pruning and screening cut", _cuts(search.records)),
        _section("The export", _export(search.manifest.get("export"))),
        _section("Error analysis of the winner", _pictures(search.directory, PICTURES, 0, 3)),
        _section("The data", _pictures(search.directory, PICTURES, 3, len(PICTURES))),
    ]
    reload = f'<meta http-equiv="refresh" content="{RELOAD_SECONDS}">' if live else ""
    state = "running: this page reloads itself" if live else "finished"
    return _document(name, f'<p class="state">Search {state}.</p>{"".join(sections)}', reload)


def _section(title: str, body: str) -> str:
    anchor = title.lower().split()[-1]
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def _empty(text: str) -> str:
    return f'<p class="empty">{html.escape(text)}</p>'


def _table(header: list[str], rows: list[list[Any]], table_id: str = "", states=()) -> str:
    """A sortable table (click a header); ``states``: each row's trial state, for the filter."""
    head = "".join(f'<th class="{_kind(header, rows, i)}" onclick="sortBy(this)">'
                   f"{html.escape(h)}</th>" for i, h in enumerate(header))  # fmt: skip
    body = []
    for i, row in enumerate(rows):
        cells = "".join(_cell(v) for v in row)
        state = f' data-state="{states[i]}" class="{states[i]}"' if states else ""
        body.append(f"<tr{state}>{cells}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kind(header, rows, i) -> str:
    return "text" if any(isinstance(r[i], str) for r in rows) else ""


def _cell(value: Any) -> str:
    if value is None:
        return '<td data-v="-1">-</td>'
    if isinstance(value, float):
        return f'<td data-v="{value!r}">{value:.4g}</td>'
    if isinstance(value, bool | int):
        return f"<td>{value}</td>"
    text = str(value)
    if len(text) > _CELL_CHARS:  # a long reason: its start, the whole on hover
        shown = html.escape(text[: _CELL_CHARS - 1]) + "…"
        return f'<td class="text" title="{html.escape(text, quote=True)}">{shown}</td>'
    return f'<td class="text">{html.escape(text)}</td>'


def _glance(search: SearchHandle) -> str:
    m, records = search.manifest, search.records
    states = {s.value: sum(r.state is s for r in records) for s in TrialState}
    best = search.best
    rows = [
        ["data", f"{m['data'].get('source')} ({m['data'].get('train_size', '?'):,} images)"],
        ["space", m["space"].get("name") or m["space"].get("path")],
        ["backend, precision", f"{m.get('backend')}, {m.get('precision')}"],
        ["settings", json.dumps(m.get("config", {}), sort_keys=True)],
        ["trials", ", ".join(f"{n} {s.lower()}" for s, n in states.items() if n)],
        ["training time", f"{sum(r.seconds or 0 for r in records) / 60:.1f} min in trials"],
        ["winner", _winner_line(best)],
    ]
    rows.append(["expected score", _estimate_line((m.get("export") or {}).get("estimate"))])
    return _table(["", "value"], rows)


def _estimate_line(estimate: dict | None) -> str:
    """The export's printed estimate (older searches recorded only the accuracy)."""
    if not estimate:
        return "not exported yet"
    line = f"{100 * estimate['accuracy']:.2f} %"
    if "low" in estimate:
        line += f" (95 %: {100 * estimate['low']:.2f}-{100 * estimate['high']:.2f})"
    return line + f", {estimate.get('method', '')}".rstrip(", ")


def _winner_line(best: TrialRecord | None) -> str:
    if best is None:
        return "no completed trial yet"
    return f"trial {best.trial_id}: CV {100 * best.mean:.2f} ± {100 * (best.std or 0):.2f} %"


def _trials(search: SearchHandle) -> str:
    if not search.records:
        return _empty("No trial has started yet.")
    varying = search.varying
    header = ["trial", "state", "score %", "± %", "folds", "seconds", *varying, "reason"]
    rows, states = [], []
    for r in search.records:
        score = r.mean if r.mean is not None else _first_fold(r)
        rows.append([int(r.trial_id), r.state.value, None if score is None else 100 * score,
                     None if r.std is None else 100 * r.std, len(r.folds),
                     None if r.seconds is None else round(r.seconds, 1),
                     *[r.hyperparameters.get(k) for k in varying], r.reason or ""])  # fmt: skip
        states.append(r.state.value)
    options = "".join(f'<option value="{s.value}">{s.value.lower()}</option>' for s in TrialState)
    select = (f'<p>Show <select onchange="filterState(this.value)"><option value="">every '
              f"trial</option>{options}</select> (click a column to sort)</p>")  # fmt: skip
    return select + f'<div class="wide">{_table(header, rows, "trials", states)}</div>'


def _first_fold(record: TrialRecord) -> float | None:
    """A screen's or a pruned trial's score: its first fold's."""
    return record.folds[0].val_accuracy if record.folds else None


def _over_time(records: list[TrialRecord]) -> str:
    screens = [r for r in records if r.folds and is_screen(r.hyperparameters)]
    full = [r for r in records if r.folds and not is_screen(r.hyperparameters)]
    best, line = 0.0, Series("best so far", [], [])
    for r in sorted(records, key=lambda r: int(r.trial_id)):
        if r.state is TrialState.COMPLETE and r.mean is not None:
            best = max(best, r.mean)
            line.xs.append(int(r.trial_id)), line.ys.append(100 * best)
    series = [
        _dots("screens (fold 1, early)", screens, _first_fold),
        _dots("full trials (CV mean; pruned: fold 1)", full, lambda r: r.mean or _first_fold(r)),
        line,
    ]
    return chart([s for s in series if s.xs], "trial", "accuracy %", "score per trial")


def _dots(name: str, records: list[TrialRecord], score) -> Series:
    kept = [(r, score(r)) for r in records if score(r) is not None]
    return Series(name, [int(r.trial_id) for r, _ in kept], [100 * s for _, s in kept],
                  line=False, labels=[f"trial {r.trial_id}: {r.state.value}" for r, _ in kept])  # fmt: skip


def _hyperparameters(search: SearchHandle, rank: bool = True) -> str:
    """Each hyperparameter's score against its value, ranked by importance when ``rank`` (a
    random forest: a finished search's page; a running search's rewrites skip it, so that the
    page costs its trials no time)."""
    basis, what = importance_basis(search.records)
    if len(basis) < 3 or not search.varying:
        return _empty("Too few scored trials to rank the hyperparameters yet.")
    names, table = search.varying, _empty("Ranked by importance once the search has ended.")
    if rank:
        ranking = importance(basis, search.varying, seed=search.seed)
        names = [i.name for i in ranking]
        table = _table(["hyperparameter", "importance"],
                       [[i.name, float(i.importance)] for i in ranking])  # fmt: skip
    charts = []
    for name in names[:6]:
        xs, ticks = _positions([r.hyperparameters.get(name) for r in basis])
        ys = [100 * (r.mean if r.mean is not None else _first_fold(r)) for r in basis]
        label = name + (f" ({', '.join(ticks)})" if ticks else "")
        charts.append(chart([Series("trials", xs, ys, line=False)], label, "accuracy %"))
    grid = f"<div class='grid'>{''.join(charts)}</div>"
    return f"<p>Scores from {html.escape(what)}.</p>{table}{grid}"


def _positions(values: list) -> tuple[list[float], list[str]]:
    """Numbers for a hyperparameter's values: numeric as they are, others by their order."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], []
    names = sorted({str(v) for v in values})
    return [float(names.index(str(v))) for v in values], [f"{i}={n}" for i, n in enumerate(names)]


def _curves(records: list[TrialRecord]) -> str:
    best = ranked(records)[:3]
    if not best:
        return _empty("No completed trial yet.")
    charts = []
    for r in best:
        series = []
        for f in r.folds:
            for key in ("val_accuracy", "accuracy"):
                curve = f.history.get(key) or []
                name = f"fold {f.fold + 1} {'validation' if key.startswith('val') else 'training'}"
                series.append(Series(name, list(range(1, len(curve) + 1)),
                                     [100 * v for v in curve]))  # fmt: skip
        title = f"trial {r.trial_id}: CV {100 * r.mean:.2f} %"
        charts.append(
            f"<h3>{html.escape(title)}</h3>" + chart(series, "epoch", "accuracy %", title)
        )
    return "".join(charts)


def _cuts(records: list[TrialRecord]) -> str:
    """Each stopped trial's validation curve on its last fold, ending at its cut point (a dot,
    with the rule's reason as its tooltip), against the best trial's fold 1."""
    stopped = [r for r in records if r.state is TrialState.PRUNED and r.folds]
    if not stopped:
        return _empty("No trial was pruned or screened out.")
    series, ends, labels = [], [], []
    for r in stopped:
        curve = _validation_curve(r.folds[-1])
        if curve:
            series.append(Series("stopped trials", _epochs(curve), curve, colour="#bbbbbb"))
            ends.append((len(curve), curve[-1]))
            labels.append(f"trial {r.trial_id}: {r.reason}")
    for r in ranked(records)[:1]:
        curve = _validation_curve(r.folds[0])
        series.append(Series(f"best, trial {r.trial_id}, fold 1", _epochs(curve), curve,
                             colour="#1f77b4"))  # fmt: skip
    cuts = Series("cut points", [x for x, _ in ends], [y for _, y in ends], line=False,
                  colour="#c0392b", labels=labels)  # fmt: skip
    title = f"{len(stopped)} trial(s) stopped early: validation accuracy to the cut"
    return chart([*series, cuts], "epoch", "validation accuracy %", title)


def _validation_curve(fold) -> list[float]:
    """A fold's validation accuracy per epoch, in percent."""
    return [100 * v for v in fold.history.get("val_accuracy") or []]


def _epochs(curve: list[float]) -> list[int]:
    return list(range(1, len(curve) + 1))


def _export(export: dict | None) -> str:
    if not export:
        return _empty("Not exported yet (digit-tuner export, or the end of digit-tuner run).")
    parts = []
    if export.get("holdout_accuracy"):
        rows = [[name, 100 * score] for name, score in export["holdout_accuracy"].items()]
        parts.append("<p>Candidates on the holdout (images no candidate trained on):</p>"
                     + _table(["candidate", "accuracy %"], rows))  # fmt: skip
    fits = export.get("final_models") or []
    if fits:
        replaced = replaced_fits(fits)
        rows = [[f.get("trial_id", ""), f["seed"], f["images"], f["epochs"],
                 "yes" if f["measured"] else "no", _start(f),
                 "no (went on in a later one)" if i in replaced else "yes"]
                for i, f in enumerate(fits)]  # fmt: skip
        columns = ["trial", "seed", "images", "epochs", "measured on the holdout",
                   "starts from", "in the submission"]  # fmt: skip
        parts.append("<p>The final models:</p>" + _table(columns, rows))
    for key in ("final_epochs_cut", "final_models_cut"):
        if export.get(key):
            parts.append(f"<p>{html.escape(export[key])}</p>")
    parts.append(_final_curves(fits))
    return "".join(parts) or _empty("The export recorded no scores.")


def _start(fit: dict) -> str:
    """Where a final model's weights began: fresh, or another final model's (a warm restart)."""
    before = fit.get("continues")
    return "fresh weights" if before is None else f"model {before + 1}"


def _final_curves(fits: list[dict]) -> str:
    """The final models' training curves (on their augmented images: they have no validation
    part), one line per model; exports before the curves were recorded have none."""
    charts = []
    for key, label in (("accuracy", "training accuracy %"), ("loss", "training loss")):
        scale = 100 if key == "accuracy" else 1
        series = [
            Series(f"model {i + 1} (seed {f['seed']})", list(range(1, len(curve) + 1)),
                   [scale * v for v in curve])
            for i, f in enumerate(fits)
            if (curve := (f.get("history") or {}).get(key))
        ]  # fmt: skip
        if series:
            charts.append(chart(series, "epoch", label, f"final models: {label}"))
    return "".join(charts)


def _pictures(directory: Path, pictures: dict[str, str], first: int, last: int) -> str:
    shown = []
    for name, caption in list(pictures.items())[first:last]:
        path = Path(directory) / PLOTS_DIR / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            shown.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,"
                         f"{data}'><figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    if not shown:
        return _empty("Not drawn yet: digit-tuner report (and digit-tuner eda) draw these.")
    return "".join(shown)


def comparison_page(searches: list[SearchHandle]) -> str:
    """One page comparing searches side by side: the settings that differ, each search's best
    score and estimate, and its winner's learning curves."""
    names = [s.directory.name for s in searches]  # as the command named them
    configs = [s.manifest.get("config", {}) for s in searches]
    keys = sorted({k for c in configs for k in c})
    differ = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    settings = [[k, *[json.dumps(c.get(k)) for c in configs]] for k in differ]
    scores = [[n, _winner_line(s.best), _estimate_line((s.manifest.get("export") or {})
               .get("estimate")), len(s.records)] for n, s in zip(names, searches, strict=True)]  # fmt: skip
    sections = [
        _section(
            "Settings that differ",
            _table(["setting", *names], settings)
            if settings
            else _empty("The searches ran with the same settings."),
        ),
        _section("Best scores", _table(["search", "winner", "expected score", "trials"], scores)),
        _section(
            "Learning curves of the winners",
            "".join(
                f"<h3>{html.escape(n)}</h3>{_curves(ranked(s.records)[:1])}"
                for n, s in zip(names, searches, strict=True)
            ),
        ),
    ]
    return _document(" vs ".join(names), "".join(sections))


def _document(title: str, body: str, head: str = "") -> str:
    """A whole page: its style and script inline, ``head`` added to its head."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head}'
        f"<title>{html.escape(title)}: digit-tuner</title><style>{STYLE}</style>"
        f"<script>{SCRIPT}</script></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
