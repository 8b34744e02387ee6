"""The pruning rule (tuner.pruners.rule) on replayed learning curves (bench/replay.py): twins do not
prune each other, the best configuration survives, and the replay itself can tell a bad pruner."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import FIXTURES, ROOT
from tuner.pruners.rule import PruneSettings

sys.path.insert(0, str(ROOT / "bench"))

import replay  # noqa: E402  (bench/ is not a package)


@pytest.fixture(scope="module")
def table():
    """The table the rule's defaults were chosen on (bench/curves.py, 8,400 images, batch norm
    at the profiles' momentum 0.9), whatever part of it has been run."""
    return replay.load_table(replay.SECOND_TABLE)


def test_runs_of_one_configuration_with_other_seeds_never_prune_each_other(table):
    """For every configuration that could win (within a point of the table's best): a run with
    another seed is never pruned by its twins. (A configuration whose validation accuracy bounces
    by tens of points between epochs, as batch norm does with few steps per epoch, can prune its
    twins: that costs nothing, it cannot win.)"""
    best = table.true_score(table.best)
    assert any(
        len(runs) >= 2 and table.true_score(c) >= best - 0.01 for c, runs in table.runs.items()
    ), "the table has no repeated configuration that could win"
    assert replay.twin_stops(table, PruneSettings()) == []


def test_the_twin_check_catches_a_rule_that_stops_twins(table):
    """The check above is not vacuous: with no noise margin and the best twin as the bar, some
    run of a near-best configuration falls below its twin at some epoch."""
    eager = PruneSettings(warmup=0.0, quantile=1.0, margin=0.0, noise_z=0.0)
    assert replay.twin_stops(table, eager)


def test_the_tables_best_survives_a_replayed_search(table):
    best_pruned = drawn = 0
    for seed in range(20):
        out = replay.replay(table, replay.ToolkitRule(), seed, budget=math.inf)
        best_pruned += out.best_pruned
        drawn += out.best_drawn
    assert drawn == 20  # every search draws every configuration once
    assert best_pruned <= 1  # at most 5 %
    assert replay.replay(table, replay.ToolkitRule(), 0, math.inf).best_pruned == 0


def _synthetic(path: Path, configs: int = 30) -> Path:
    """Curves that rise to each configuration's quality, with noise; three seeds of config 0."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(configs):
        quality, tau = rng.uniform(0.95, 0.99), rng.uniform(1, 4)
        for seed in range(3 if c == 0 else 1):
            folds = []
            for _ in range(3):
                e = np.arange(1, 13)
                curve = quality - (quality - 0.6) * np.exp(-e / tau) + rng.normal(0, 0.003, 12)
                folds.append({"val_accuracy": curve[-1], "curve": list(curve), "seconds": 10.0})
            rows.append({"config": c, "values": {"c": c}, "seed": seed, "folds": folds})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_the_replay_tells_a_pruner_that_kills_every_trial_from_a_good_one(tmp_path):
    """A benchmark that cannot tell a bad method proves nothing: pruning every trial after the
    first must lose to no pruning at all, however lucky its first trial."""
    table = replay.load_table(_synthetic(tmp_path / "t.jsonl"))

    class KillAllButFirst(replay.Strategy):
        def __init__(self):
            self.seen = 0

        def begin(self, trial):
            self.seen += 1

        def epoch(self, trial, fold, epoch, value):
            return self.seen > 1

    full = table.folds * table.epochs
    runs = {
        name: [replay.replay(table, make(), s, 30 * full) for s in range(40)]
        for name, make in (("bad", KillAllButFirst), ("none", replay.Strategy))
    }
    bad, none = (replay.regrets(table, runs[k], [20 * full])[0] for k in ("bad", "none"))
    assert bad > none + 0.3
    good = [replay.replay(table, replay.ToolkitRule(), s, 30 * full) for s in range(40)]
    assert replay.regrets(table, good, [20 * full])[0] <= none + 0.05
    # paired on the same seeds, the kill-all rule is worse by more than its standard errors;
    # a strategy against itself differs by nothing
    mean, se = replay.paired_difference(table, runs["bad"], runs["none"], 20 * full)
    assert mean == pytest.approx(bad - none) and mean > 2 * se > 0
    assert replay.paired_difference(table, runs["none"], runs["none"], 20 * full) == (0.0, 0.0)


def test_a_learning_curve_table_takes_rows_of_one_measurement_only(tmp_path):
    """bench/curves.py resumes a table by skipping the ids it holds; rows measured with another
    space, subset or fold count would be replayed as if comparable, so appending them is
    refused, naming the line."""
    import curves

    measured = {"images": 8400, "folds": 3, "seed": 0, "space": "bench/curves_space_bn09.toml"}
    out = tmp_path / "t.jsonl"
    assert curves.finished_ids(out, measured) == set()
    row = {"id": "c000", "run": dict(measured, cores=2)}
    out.write_text(json.dumps(row) + "\n\n" + json.dumps(row | {"id": "c001"}) + "\n")
    assert curves.finished_ids(out, measured) == {"c000", "c001"}
    with pytest.raises(
        SystemExit, match=r"t.jsonl:1: this table's rows have images 8400, this run 6000"
    ):
        curves.finished_ids(out, measured | {"images": 6000})
    # the first table's rows predate the recorded space: they count as the default space's
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps({"id": "c000", "run": {"images": 6000, "folds": 3, "seed": 0}}))
    default = {"images": 6000, "folds": 3, "seed": 0, "space": curves.repo_path(curves.SPACE)}
    assert curves.finished_ids(old, default) == {"c000"}
    with pytest.raises(
        SystemExit, match="space 'bench/curves_space.toml', this run 'bench/curves_space_bn09.toml'"
    ):
        curves.finished_ids(old, default | {"space": "bench/curves_space_bn09.toml"})


def test_each_learning_curve_table_keeps_its_own_section_and_plot():
    """Replaying the second table must not overwrite the first table's figures."""
    first = replay.ROOT / "results" / "curves.jsonl"
    second = replay.ROOT / "results" / "curves-8400.jsonl"
    assert replay.plot_path(first).name == "replay_regret.png"
    assert replay.plot_path(second).name == "replay_regret-8400.png"
    assert (
        replay.section_title(first) == "## Search strategies replayed on the learning-curve table"
    )
    assert replay.section_title(second).endswith("table `results/curves-8400.jsonl`")


REAL_CURVES = FIXTURES / "quick_curves.json"


def _replay_real_search(search: dict, settings) -> dict[str, str]:
    """Replays one real quick search (tests/fixtures/quick_curves.json, bench/real_curves.py) in
    trial order under ``settings`` (``replay.first_stop``): each trial's state, 'complete',
    'pruned' or 'unknown' (the rule would have let it go past what was recorded of it)."""
    from tuner.pruners.rule import Finished, make_rule

    earlier, states, epochs = [], {}, search["epochs"]
    for trial_id, t in search["trials"].items():
        rule = make_rule(earlier, settings, val_size=t["val_size"], epochs=epochs)
        curves, scores = t["curves"], t["fold_scores"]
        stop = replay.first_stop(rule, curves, scores, folds=3) if rule else None
        if stop is not None:
            fold, epoch, _ = stop
            state = "pruned"
            scores = scores[: fold + (epoch is None)]
            curves = curves[:fold] + [curves[fold][: epoch or len(curves[fold])]]
        else:
            state = "complete" if t["complete"] else "unknown"
            scores = [s for s, c in zip(scores, curves, strict=False) if len(c) == epochs]
        earlier.append(Finished(tuple(map(tuple, curves)), tuple(scores), state == "complete"))
        states[trial_id] = state
    return states


def test_the_default_rule_keeps_the_best_configurations_of_real_quick_searches():
    """On the curves of real quick searches (3 seeds with 10 epochs a fold, 20 configurations run
    to the end; the same seeds with 6 epochs, 17), the default rule stops none within half a
    point of its search's best. With epoch 1 judged it stopped seed 1's best (a batch-norm model
    at 88.2 % after epoch 1, 98.69 % CV at the end) and, at 6 epochs, seed 0's (98.56 %). The
    6-epoch searches ran under the default rule: replayed, it decides what they did."""
    from tuner.pruners.rule import PruneSettings

    seeds = json.loads(REAL_CURVES.read_text())["seeds"]
    kept = 0
    for name, search in seeds.items():
        trials = search["trials"]
        cv = {i: float(np.mean(t["fold_scores"])) for i, t in trials.items() if t["complete"]}
        best = max(cv.values())
        states = _replay_real_search(search, PruneSettings())
        good = [i for i, score in cv.items() if score >= best - 0.005]
        assert all(states[i] == "complete" for i in good), (name, states)
        assert "pruned" in states.values()  # the rule does stop something in each search
        kept += len(good)
        if search["epochs"] == 6:
            ran = {i: "complete" if t["complete"] else "pruned" for i, t in trials.items()}
            assert states == ran, name
    assert kept >= 12
    # the regression this guards against: the same rungs from epoch 1 (at 6 epochs, what a
    # warm-up of a tenth judged before it covered at least one epoch)
    assert _replay_real_search(seeds["1"], PruneSettings(warmup=0.0))["03"] == "pruned"
    assert _replay_real_search(seeds["0-e6"], PruneSettings(warmup=0.0))["06"] == "pruned"


def test_a_successive_halving_bracket_spends_what_its_shape_says(tmp_path):
    """Brackets of 9 on a 3-fold, 12-epoch table: 9 configurations to fold 1's epoch 2, the best
    3 on to the end of fold 1, the best of those through all folds; only that one can be the
    pick, once its CV is complete."""
    table = replay.load_table(_synthetic(tmp_path / "t.jsonl"))
    shape = replay.Bracket(9, ((0, 2), (1, 0), (3, 0)))
    one = 9 * 2 + 3 * (12 - 2) + 1 * (36 - 12)
    out = replay.replay_brackets(table, shape, 0, one)
    assert out.spent == [one] and len(out.picks) == 1
    assert out.pruned == 8  # the 8 that missed the last rung
    assert replay.replay_brackets(table, shape, 0, one - 1).picks == []
    with pytest.raises(ValueError, match="last rung must be all 3 folds"):
        replay.replay_brackets(table, replay.Bracket(9, ((0, 2), (1, 0))), 0, one)


def _screen_rank(search: dict, epochs: int) -> tuple[int, int]:
    """Where a real search's best configuration (by CV) ranks among its trials by fold 1's
    validation accuracy after ``epochs`` epochs (a screen's score): (rank from 1, trials)."""
    trials = search["trials"]
    scores = {i: t["curves"][0][epochs - 1] for i, t in trials.items()
              if len(t["curves"][0]) >= epochs}  # fmt: skip
    cv = {i: float(np.mean(t["fold_scores"])) for i, t in trials.items() if t["complete"]}
    best = max(cv, key=cv.get)
    order = sorted(scores, key=lambda i: -scores[i])
    return order.index(best) + 1, len(order)


def test_the_quick_profiles_screen_keeps_the_best_of_every_real_quick_search():
    """The quick profile screens at fold 1's epoch ``screen_epochs`` and keeps a third: on the
    curves of the 6 real quick searches, each search's best configuration ranks within its
    search's top third at that epoch. At epoch 1 it would not (batch-norm winners lag there),
    so the check is not vacuous."""
    from tuner.screening.rounds import Screening
    from tuner.space.spaces import load_space

    search = load_space(ROOT / "search_spaces" / "quick.toml").search
    assert search.screen and search.screen_epochs == 2
    seeds = json.loads(REAL_CURVES.read_text())["seeds"]
    for name, real in seeds.items():
        rank, trials = _screen_rank(real, search.screen_epochs)
        assert rank <= Screening(trials).promoted, (name, rank, trials)
    missed = [n for n, real in seeds.items()
              if _screen_rank(real, 1)[0] > Screening(_screen_rank(real, 1)[1]).promoted]  # fmt: skip
    assert len(missed) >= 2


def test_the_quick_profiles_screen_keeps_the_tables_best(table):
    """The quick profile's screening (27 at fold 1's epoch 2, the best 9 in full), replayed on
    the table: the table's best is kept in all but at most 5 % of the searches."""
    from tuner.screening.rounds import Screening
    from tuner.space.spaces import load_space

    search = load_space(ROOT / "search_spaces" / "quick.toml").search
    screening = Screening(search.screen, search.screen_epochs, search.screen_keep)
    shape = replay.Screen(screening.size, screening.epochs, screening.promoted)
    outs = [replay.replay_screen(table, shape, seed, math.inf) for seed in range(20)]
    assert sum(o.best_drawn for o in outs) == 20
    assert sum(o.best_pruned for o in outs) <= 1
