"""The search's page (report.html): one self-contained file, its sections, its table, its size
for a long search, and its life while a search runs."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
from html.parser import HTMLParser

import pytest

from tests.helpers import FIXTURES, invoke
from tuner.analysis.page import PAGE_FILE, search_page, write_page
from tuner.storage.manifest import open_search
from tuner.storage.records import FoldResult, TrialRecord, TrialState
from tuner.ui.events import Reporter

# the searches these tests run train tiny models: what the page shows, not how Keras compiles
# (tests/test_shipped.py runs a search as shipped)
pytestmark = pytest.mark.eager

SECTIONS = [
    "glance",
    "trials",
    "time",
    "hyperparameters",
    "trials",
    "cut",
    "export",
    "winner",
    "data",
]


class Page(HTMLParser):
    """What a browser would find: section ids, the trials table's rows, image sources, links."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.rows, self.images, self.external, self._in_trials = [], 0, [], [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        if tag == "table":
            self._in_trials = attrs.get("id") == "trials"
        if tag == "tr" and self._in_trials and "data-state" in attrs:
            self.rows += 1
        if tag == "img":
            self.images.append(attrs["src"])
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http", "//")):
                self.external.append(attrs[key])


class Snapshots(Reporter):
    """The page as it is when each trial begins (the page after the trial before) and when the
    search ends."""

    def __init__(self, path):
        self.path, self.seen = path, []

    def trial_begin(self, **fields):
        if self.path.exists():
            self.seen.append(self.path.read_text())

    def search_end(self, records):
        self.seen.append(self.path.read_text())


def test_the_page_of_a_finished_search_has_every_section_inline(tmp_path):
    directory = shutil.copytree(FIXTURES / "legacy-search", tmp_path / "s")
    path = write_page(directory)
    text = path.read_text()
    page = Page(text)
    assert page.sections == SECTIONS
    assert page.rows == len(open_search(directory).records)
    assert page.external == [] and "http-equiv" not in text  # offline; finished: no reload
    assert "<svg" in text
    assert "Not drawn yet" in text  # no error analysis yet: said in one line
    # each screened-out trial's cut point, its reason as the tooltip
    assert "<title>trial 1: screened: 9.33% by epoch 1 of fold 1" in text
    assert text.count("<circle cx=") >= 3 and "stopped trials" in text
    assert path.name == PAGE_FILE


def test_the_export_section_draws_the_final_models_training_curves(tmp_path):
    """One line per final model, accuracy and loss; an export that recorded none draws none. The
    table says where each model started and whether the submission has it."""
    directory = shutil.copytree(FIXTURES / "legacy-search", tmp_path / "s")
    assert "final models: training" not in search_page(open_search(directory))
    manifest = json.loads((directory / "search.json").read_text())
    curves = {"loss": [0.9, 0.4, 0.2], "accuracy": [0.7, 0.9, 0.95]}
    manifest["export"]["final_models"] = [
        {"trial_id": "0", "seed": s, "images": 300, "epochs": 3, "measured": s == 0,
         "history": curves} for s in (0, 7)
    ]  # fmt: skip
    (directory / "search.json").write_text(json.dumps(manifest))
    text = search_page(open_search(directory))
    for label in ("final models: training accuracy %", "final models: training loss"):
        assert label in text
    assert "model 1 (seed 0)" in text and "model 2 (seed 7)" in text
    assert "went on in a later one" not in text  # an export before warm restarts: both fresh
    # a warm restart: the second went on from the first, which left the submission
    manifest["export"]["final_models"][1]["continues"] = 0
    (directory / "search.json").write_text(json.dumps(manifest))
    text = search_page(open_search(directory))
    assert "starts from</th>" in text and ">model 1</td>" in text
    assert text.count("no (went on in a later one)") == 1


def test_the_report_command_draws_the_pictures_once_and_inlines_them(tmp_path, tiny_dir):
    directory = shutil.copytree(FIXTURES / "legacy-search", tmp_path / "s")
    done = invoke("report", "s", "--results-dir", tmp_path, "--data", tiny_dir)
    if done.exit_code != 0:  # the fixture's data must be the tiny digits
        raise AssertionError(done.output)
    assert f"page: {directory / PAGE_FILE}" in done.output.replace("\n", "")
    text = (directory / PAGE_FILE).read_text()
    page = Page(text)
    assert len(page.images) == 7  # error analysis 3, data 4 (the augmented copies among them)
    for src in page.images:  # each a PNG that decodes
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "the always-zero pixels in red" in text and "an image of each class" in text


def synthetic_search(tmp_path):
    """The legacy search with 100 made-up trials (a third of them pruned after one fold)."""
    directory = shutil.copytree(FIXTURES / "legacy-search", tmp_path / "s")
    search = open_search(directory)
    curve = [0.9 + 0.001 * e for e in range(30)]
    folds = tuple(
        FoldResult(k, 0.98, 0.05, 30, 60.0, 1000, 500, {"val_accuracy": curve, "accuracy": curve})
        for k in range(3)
    )
    records = [
        TrialRecord(str(i), TrialState.COMPLETE if i % 3 else TrialState.PRUNED,
                    {"learning_rate": 1e-3 * (1 + i % 7), "dense_units": 8 * (1 + i % 3),
                     "conv_blocks": 1 + i % 2},
                    folds if i % 3 else folds[:1], seconds=60.0)
        for i in range(100)
    ]  # fmt: skip
    return dataclasses.replace(search, records=records)


def test_a_100_trial_search_makes_a_small_page(tmp_path):
    text = search_page(synthetic_search(tmp_path))
    assert Page(text).rows == 100
    assert len(text.encode()) < 1_000_000
    assert re.search(r"<section id=\"hyperparameters\">.*<svg", text, re.S)


def test_the_page_follows_a_running_search_and_stops_reloading_at_its_end(
    tmp_path, tiny_train, tiny_space_path
):
    """Snapshots of report.html as a 3-trial search goes: after trial 1 and after trial 2 (each
    seen when the next trial begins) they differ in their rows and reload themselves; once the
    search has ended the page no longer reloads."""
    from tests.helpers import search_config
    from tuner.search.driver import run_search
    from tuner.space.spaces import load_space

    snapshots = Snapshots(tmp_path / "s" / PAGE_FILE)
    config = search_config(tmp_path, name="s", max_trials=3)
    run_search(tiny_train, load_space(tiny_space_path), config, snapshots)
    after_1, after_2, finished = snapshots.seen
    assert [Page(p).rows for p in (after_1, after_2, finished)] == [1, 2, 3]
    assert "http-equiv" in after_1 and "http-equiv" in after_2
    assert "http-equiv" not in finished


def test_a_notebook_shows_the_page_in_a_frame_of_its_own_and_can_save_it(tmp_path):
    from tuner.search.results import open_results

    directory = shutil.copytree(FIXTURES / "legacy-search", tmp_path / "s")
    page = open_results(directory).report()
    shown = page._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and "http-equiv" not in shown
    saved = page.save(tmp_path / "copy.html")
    assert Page(saved.read_text()).sections == SECTIONS


def test_report_of_two_searches_writes_one_page_comparing_them(tmp_path):
    import json

    for name, folds in (("a", 2), ("b", 3)):
        directory = shutil.copytree(FIXTURES / "legacy-search", tmp_path / name)
        manifest = json.loads((directory / "search.json").read_text())
        manifest["config"]["folds"] = folds
        (directory / "search.json").write_text(json.dumps(manifest))
    out = tmp_path / "both.html"
    done = invoke("report", "a", "b", "--results-dir", tmp_path, "--out", out)
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert "Settings that differ" in text and '<td class="text">folds</td>' in text
    assert text.count("<h3>a</h3>") == text.count("<h3>b</h3>") == 1  # each winner's curves
