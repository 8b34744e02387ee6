"""Replay benchmark: whole searches simulated on the learning-curve table, no training.

Every strategy sees the same thing a real search would: configurations drawn at random from the
table (``results/curves.jsonl``, written by ``bench/curves.py``), each trained fold by fold and
epoch by epoch, where "training" reads the next validation accuracy off the table. A strategy
decides after each epoch whether to go on; compute is counted in fold-epochs (and in the table's
seconds). For each replayed search we keep the anytime curve of its pick (the best *completed*
trial so far; a pruned trial never wins) and measure:

- regret: the table's best true score minus the pick's true score, where a configuration's true
  score is its 3-fold CV accuracy at its last epoch, averaged over the seeds the table has;
- how often the table's best configuration, when drawn, is pruned;
- compute spent.

Repeated configurations (other model seeds) are drawn at random when a configuration is replayed,
so that replayed searches see the table's own noise. Two runs of one configuration must never
prune each other (tests/pruners/test_replay.py).

    .venv/bin/pip install -e '.[bench]'             # Optuna, for its pruners
    .venv/bin/python bench/replay.py                 # 200 seeds per strategy, a few minutes
    .venv/bin/python bench/replay.py --seeds 20      # a quick look

Writes its section of results/benchmarks.md and results/replay_regret.png; for another table
(``--table results/curves-8400.jsonl``) a section and a plot of that table's own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results_file import repo_path  # noqa: E402

TABLE = ROOT / "results" / "curves.jsonl"
PAIRED_AT = (4, 6, 8)  # budgets (trials' worth) of the paired comparison with the default
# the second table (8,400 images, batch norm at momentum 0.9, as the profiles train): the
# pruning rule's defaults were chosen on it
SECOND_TABLE = ROOT / "results" / "curves-8400.jsonl"


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One configuration trained once (one model seed): every fold's validation curve."""

    curves: np.ndarray  # (folds, epochs) validation accuracy after each epoch
    seconds: np.ndarray  # (folds,) wall time of each fold
    final: np.ndarray  # (folds,) each fold's final validation accuracy

    @property
    def score(self) -> float:
        return float(self.final.mean())


@dataclass(frozen=True)
class Table:
    runs: dict[int, list[Run]]  # configuration -> its runs (seed 0 first)
    values: dict[int, dict]  # configuration -> hyperparameter values
    val_size: int | None = None  # images in one validation fold

    @property
    def configs(self) -> list[int]:
        return sorted(self.runs)

    @property
    def folds(self) -> int:
        return next(iter(self.runs.values()))[0].curves.shape[0]

    @property
    def epochs(self) -> int:
        return next(iter(self.runs.values()))[0].curves.shape[1]

    def true_score(self, config: int, epochs: int | None = None) -> float:
        """The configuration's CV accuracy after ``epochs`` (default: all), over its seeds."""
        runs = self.runs[config]
        if epochs is None or epochs == self.epochs:
            return float(np.mean([r.score for r in runs]))
        return float(np.mean([r.curves[:, epochs - 1].mean() for r in runs]))

    @property
    def best(self) -> int:
        return max(self.configs, key=self.true_score)


def load_table(path: Path = TABLE) -> Table:
    runs: dict[int, list[Run]] = {}
    values: dict[int, dict] = {}
    val_size = None
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        folds = row["folds"]
        run = Run(
            curves=np.array([f["curve"] for f in folds], dtype=float),
            seconds=np.array([f["seconds"] for f in folds], dtype=float),
            final=np.array([f["val_accuracy"] for f in folds], dtype=float),
        )
        runs.setdefault(row["config"], []).append(run)
        values[row["config"]] = row["values"]
        header = row.get("run", {})
        val_size = header["images"] // header["folds"] if "images" in header else None
    return Table(runs, values, val_size)


# --- one replayed search ----------------------------------------------------------------------


@dataclass
class Trial:
    config: int
    run: Run
    fold_scores: list[float] = field(default_factory=list)
    curves: list[list[float]] = field(default_factory=list)
    pruned: bool = False
    val_size: int | None = None  # images in one validation fold

    @property
    def score(self) -> float:
        return float(np.mean(self.fold_scores))


@dataclass
class Replay:
    """What one search spent and picked, as it went (the anytime curve)."""

    spent: list[float] = field(default_factory=list)  # fold-epochs when the pick changed
    seconds: list[float] = field(default_factory=list)
    picks: list[float] = field(default_factory=list)  # the pick's true score from then on
    best_drawn: int = 0  # times the table's best configuration was drawn
    best_pruned: int = 0  # ... and pruned
    trials: int = 0
    pruned: int = 0
    pick_score: float = -math.inf  # the search's own score of its pick (its CV, as it saw it)

    def offer(self, score: float, spent: float, seconds: float, true_score: float) -> None:
        """A trial completed with ``score`` (as the search sees it; ``true_score``: the
        table's) after ``spent`` fold-epochs and ``seconds``: the pick if it beats every
        earlier one."""
        if score > self.pick_score:
            self.pick_score = score
            self.spent.append(spent)
            self.seconds.append(seconds)
            self.picks.append(true_score)

    def pick_at(self, budget: float) -> float | None:
        i = np.searchsorted(self.spent, budget, side="right") - 1
        return None if i < 0 else self.picks[i]

    def pick_at_seconds(self, budget: float) -> float | None:
        i = np.searchsorted(self.seconds, budget, side="right") - 1
        return None if i < 0 else self.picks[i]


class Strategy:
    """Decides, epoch by epoch, whether a trial goes on. Subclasses override the hooks."""

    name = "random"

    def begin(self, trial: Trial) -> None:
        pass

    def epoch(self, trial: Trial, fold: int, epoch: int, value: float) -> bool:
        """After ``epoch`` (from 1) of ``fold``: True to stop (prune) the trial."""
        return False

    def fold_end(self, trial: Trial, fold: int) -> bool:
        """After a fold: True to stop (prune) the trial."""
        return False

    def end(self, trial: Trial) -> None:
        pass


def _play(table: Table, strategy: Strategy, trial: Trial) -> tuple[bool, float, float]:
    """Trains ``trial`` fold by fold and epoch by epoch off the table until the strategy stops
    it: (stopped, fold-epochs spent, seconds spent)."""
    run, spent, seconds = trial.run, 0.0, 0.0
    for fold in range(table.folds):
        trial.curves.append([])
        per_epoch = run.seconds[fold] / table.epochs
        for epoch in range(1, table.epochs + 1):
            value = float(run.curves[fold, epoch - 1])
            trial.curves[fold].append(value)
            spent += 1
            seconds += per_epoch
            if strategy.epoch(trial, fold, epoch, value):
                return True, spent, seconds
        trial.fold_scores.append(float(run.final[fold]))
        if fold < table.folds - 1 and strategy.fold_end(trial, fold):
            return True, spent, seconds
    return False, spent, seconds


def replay(
    table: Table, strategy: Strategy, seed: int, budget: float, max_trials: int | None = None
) -> Replay:
    """One search: configurations in a seeded random order, trained until ``budget`` fold-epochs
    are spent (a trial not finished by then does not count)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(table.configs)[: max_trials or None]
    best_config = table.best
    out = Replay()
    spent = seconds = 0.0
    for config in order:
        run = table.runs[config][rng.integers(len(table.runs[config]))]
        trial = Trial(int(config), run, val_size=table.val_size)
        strategy.begin(trial)
        out.trials += 1
        out.best_drawn += config == best_config
        stopped, units, secs = _play(table, strategy, trial)
        spent += units
        seconds += secs
        if spent > budget:
            break
        trial.pruned = stopped
        strategy.end(trial)
        if stopped:
            out.pruned += 1
            out.best_pruned += config == best_config
            continue
        out.offer(trial.score, spent, seconds, table.true_score(trial.config))
    return out


# --- strategies -------------------------------------------------------------------------------


class CurrentRule(Strategy):
    """The rule the toolkit shipped before the replay: against the best trial so far, from the
    second trial on, at every epoch of every fold and after every fold, with a margin of
    max(0.2 point, 2 x the best trial's fold std)."""

    name = "toolkit before (best-trial bar)"

    def __init__(self):
        self.done: list[Trial] = []

    def _best(self):
        return max(self.done, key=lambda t: t.score) if self.done else None

    def epoch(self, trial, fold, epoch, value):
        best = self._best()
        if best is None:
            return False
        margin = max(0.002, 2 * float(np.std(best.fold_scores)))
        return value < best.curves[fold][epoch - 1] - margin

    def fold_end(self, trial, fold):
        best = self._best()
        if best is None:
            return False
        margin = max(0.002, 2 * float(np.std(best.fold_scores)))
        return float(np.mean(trial.fold_scores)) < best.score - margin

    def end(self, trial):
        if not trial.pruned:
            self.done.append(trial)


class ToolkitRule(Strategy):
    """The toolkit's own rule (``tuner.pruners.rule``), fed the replayed trials as records."""

    def __init__(self, settings=None):
        from tuner.pruners.rule import PruneSettings

        self.settings = settings or PruneSettings()
        self.name = f"toolkit {self.settings.label()}"
        self.history: list = []  # tuner.pruners.Finished of every completed trial
        self.rule = None

    def begin(self, trial):
        from tuner.pruners.rule import make_rule

        self.rule = make_rule(
            self.history, self.settings, trial.val_size, trial.run.curves.shape[1]
        )

    def epoch(self, trial, fold, epoch, value):
        best = max(trial.curves[fold])  # the best so far in this fold
        return self.rule is not None and self.rule.stop_after_epoch(fold, epoch, best) is not None

    def fold_end(self, trial, fold):
        return self.rule is not None and self.rule.stop_after_fold(trial.fold_scores) is not None

    def end(self, trial):
        from tuner.pruners.rule import Finished

        curves = tuple(tuple(c) for c in trial.curves)
        self.history.append(Finished(curves, tuple(trial.fold_scores), not trial.pruned))


class Clairvoyant(Strategy):
    """A bound, not a method: knows each run's final score and stops, at its first allowed
    decision point, every trial that will not beat the best completed one (it never stops a
    future pick). Its compute is the least any pruner deciding at that point can spend; if even
    this needs more than a goal's share of random search's compute, no rule meets that goal on
    this table."""

    def __init__(self, fold: int, epoch: int):
        self.at = (fold, epoch)  # the first decision point: after this epoch of this fold
        self.name = f"clairvoyant bound, decides after fold {fold + 1} epoch {epoch}"
        self.best = -math.inf

    def epoch(self, trial, fold, epoch, value):
        return (fold, epoch) == self.at and trial.run.score <= self.best

    def end(self, trial):
        if not trial.pruned:
            self.best = max(self.best, trial.score)


class OptunaPruner(Strategy):
    """An Optuna pruner driven through the ask-and-tell API on the replayed curves. The step is
    the (fold, epoch) position, so that pruners compare trials at the same fold and epoch; the
    Wilcoxon pruner gets one value per fold (its instances)."""

    def __init__(self, name: str, make: Callable, epochs: int, per_fold: bool = False):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.name, self.make, self.epochs, self.per_fold = name, make, epochs, per_fold
        self.study = optuna.create_study(direction="maximize", pruner=make())
        self.current = None

    def begin(self, trial):
        self.current = self.study.ask()

    def epoch(self, trial, fold, epoch, value):
        if self.per_fold:
            return False
        self.current.report(value, fold * self.epochs + epoch - 1)
        return self.current.should_prune()

    def fold_end(self, trial, fold):
        if not self.per_fold:
            return False
        self.current.report(trial.fold_scores[-1], fold)
        return self.current.should_prune()

    def end(self, trial):
        import optuna

        if trial.pruned:
            self.study.tell(self.current, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(self.current, trial.score)


def optuna_pruners(table: Table) -> dict[str, Callable[[], Strategy]]:
    import optuna.pruners as p

    steps = table.folds * table.epochs
    e = table.epochs
    return {
        "optuna Median": lambda: OptunaPruner("optuna Median", lambda: p.MedianPruner(), e),
        "optuna Median (warm-up 1/3)": lambda: OptunaPruner(
            "optuna Median (warm-up 1/3)",
            lambda: p.MedianPruner(n_startup_trials=5, n_warmup_steps=e // 3),
            e,
        ),
        "optuna Percentile 25": lambda: OptunaPruner(
            "optuna Percentile 25", lambda: p.PercentilePruner(25.0), e
        ),
        "optuna SuccessiveHalving": lambda: OptunaPruner(
            "optuna SuccessiveHalving", lambda: p.SuccessiveHalvingPruner(), e
        ),
        "optuna Hyperband": lambda: OptunaPruner(
            "optuna Hyperband",
            lambda: p.HyperbandPruner(min_resource=1, max_resource=steps, reduction_factor=3),
            e,
        ),
        "optuna Wilcoxon (per fold)": lambda: OptunaPruner(
            "optuna Wilcoxon (per fold)", lambda: p.WilcoxonPruner(p_threshold=0.1), e, True
        ),
    }


def replay_hyperband(table: Table, seed: int, budget: float) -> Replay:
    """keras-tuner's HyperbandOracle choosing among the table's configurations (one Choice), each
    trial training all folds for its round's epochs and going on from the round before, as the
    toolkit's Hyperband does. A pick is scored at the epochs it was trained for."""
    import keras_tuner

    rng = np.random.default_rng(seed)
    hp = keras_tuner.HyperParameters()
    hp.Choice("config", [int(c) for c in table.configs])
    out = Replay()
    with tempfile.TemporaryDirectory() as tmp:
        oracle = keras_tuner.oracles.HyperbandOracle(
            objective=keras_tuner.Objective("score", "max"),
            max_epochs=table.epochs,
            factor=3,
            hyperband_iterations=1000,
            hyperparameters=hp,
            seed=seed + 1,
        )
        oracle._set_project_dir(tmp, "o")
        runs: dict[str, Run] = {}
        spent = seconds = 0.0
        while spent <= budget:
            trial = oracle.create_trial("replay")
            if trial.status != "RUNNING":
                break
            values = trial.hyperparameters.values
            config = int(values["config"])
            epochs, start = int(values["tuner/epochs"]), int(values["tuner/initial_epoch"])
            parent = values.get("tuner/trial_id")
            run = (
                runs[parent]
                if parent in runs
                else table.runs[config][rng.integers(len(table.runs[config]))]
            )
            runs[trial.trial_id] = run
            spent += table.folds * (epochs - start)
            seconds += float(run.seconds.sum()) * (epochs - start) / table.epochs
            score = float(run.curves[:, epochs - 1].mean())
            oracle.update_trial(trial.trial_id, {"score": score})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            out.trials += start == 0
            out.best_drawn += config == table.best and start == 0
            if spent <= budget:
                out.offer(score, spent, seconds, table.true_score(config, epochs))
    return out


@dataclass(frozen=True)
class Bracket:
    """Synchronous successive halving over (fold 1's epochs, then folds): ``size`` new
    configurations trained to the first rung, the best ``1/eta`` of them on to the next, and so
    on; the last rung is the full K-fold CV, whose scores alone can become the pick. A rung is
    (folds finished, epoch of the fold after them): (0, 2) is fold 1's epoch 2, (1, 0) the end
    of fold 1, (K, 0) all folds."""

    size: int
    rungs: tuple[tuple[int, int], ...]
    eta: int = 3

    @property
    def name(self) -> str:
        def rung(done, epoch):
            return f"fold {done + 1} epoch {epoch}" if epoch else f"{done} fold(s)"

        steps = " -> ".join(rung(*r) for r in self.rungs)
        return f"successive halving, brackets of {self.size}: {steps} (eta {self.eta})"


def replay_brackets(table: Table, bracket: Bracket, seed: int, budget: float) -> Replay:
    """One search of successive-halving brackets, one after another until ``budget``
    fold-epochs are spent or the table's configurations run out. Each seed draws the same
    configurations in the same order, and the same runs of them, as ``replay`` does.
    Survivors go on training where they stopped (a rung's score is the best validation accuracy
    so far in the fold it is in, or the mean over the finished folds); the last rung's
    survivors are scored by their full CV, one after another, and the pick changes as each
    completes. A drawn configuration that misses the last rung counts as pruned."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(table.configs))
    full_rung = (table.folds, 0)
    if bracket.rungs[-1] != full_rung:
        raise ValueError(f"a bracket's last rung must be all {table.folds} folds: {bracket.rungs}")
    out = Replay()
    spent = seconds = 0.0

    def reached(run: Run, rung) -> float:  # fold-epochs trained by the time of ``rung``
        done, epoch = rung
        return done * table.epochs + epoch

    def score(run: Run, rung) -> float:
        done, epoch = rung
        if epoch:
            return float(run.curves[done, :epoch].max())
        return float(run.final[:done].mean())

    while order and spent <= budget:
        drawn = [order.pop(0) for _ in range(min(bracket.size, len(order)))]
        alive = [(int(c), table.runs[c][rng.integers(len(table.runs[c]))]) for c in drawn]
        out.trials += len(alive)
        out.best_drawn += sum(c == table.best for c, _ in alive)
        at = (0, 0)
        for i, rung in enumerate(bracket.rungs):
            last = i == len(bracket.rungs) - 1
            scored = []
            for config, run in alive:
                units = reached(run, rung) - reached(run, at)
                spent += units
                seconds += float(run.seconds.mean()) * units / table.epochs
                if spent > budget:
                    return out
                scored.append((score(run, rung), config, run))
                if last:
                    out.offer(scored[-1][0], spent, seconds, table.true_score(config))
            if last:
                break
            scored.sort(key=lambda s: -s[0])
            keep = max(1, len(scored) // bracket.eta)
            for _, config, _ in scored[keep:]:
                out.pruned += 1
                out.best_pruned += config == table.best
            alive = [(config, run) for _, config, run in scored[:keep]]
            at = rung
    return out


@dataclass(frozen=True)
class Screen:
    """Screen, then search: ``size`` new configurations trained for ``epoch`` epochs of fold 1
    (each recorded as a pruned trial), then the best ``keep`` of them, best first, as full
    trials from scratch under the toolkit's pruning rule; then the next screen. A promoted trial
    keeps its screen's model seed, so its first epochs repeat the screen's (the toolkit seeds
    it so): the replay plays the same run again."""

    size: int
    epoch: int
    keep: int

    @property
    def name(self) -> str:
        return (
            f"screen {self.size} at fold 1 epoch {self.epoch}, the best {self.keep} in full "
            "(toolkit rule)"
        )


def replay_screen(table: Table, screen: Screen, seed: int, budget: float, settings=None) -> Replay:
    """One search of screens and full trials until ``budget`` fold-epochs are spent. Each seed
    draws the same configurations in the same order, and the same runs, as ``replay`` does.
    The rule judges the full trials against the full trials before them: the screens had their
    own judgement."""
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(table.configs))
    rule = ToolkitRule(settings)
    out = Replay()
    spent = seconds = 0.0
    while order and spent <= budget:
        drawn = [order.pop(0) for _ in range(min(screen.size, len(order)))]
        screened = []
        for config in drawn:
            run = table.runs[config][rng.integers(len(table.runs[config]))]
            out.trials += 1
            out.best_drawn += config == table.best
            spent += screen.epoch
            seconds += float(run.seconds[0]) * screen.epoch / table.epochs
            if spent > budget:
                return out
            # scored as the toolkit ranks a screen: its validation accuracy at the last epoch
            screened.append((float(run.curves[0, screen.epoch - 1]), int(config), run))
        screened.sort(key=lambda s: -s[0])
        for _, config, _ in screened[screen.keep :]:
            out.pruned += 1
            out.best_pruned += config == table.best
        for _, config, run in screened[: screen.keep]:
            trial = Trial(config, run, val_size=table.val_size)
            rule.begin(trial)
            stopped, units, secs = _play(table, rule, trial)
            spent += units
            seconds += secs
            if spent > budget:
                return out
            trial.pruned = stopped
            rule.end(trial)
            if stopped:
                out.pruned += 1
                out.best_pruned += config == table.best
            else:
                out.offer(trial.score, spent, seconds, table.true_score(config))
    return out


def screens(table: Table) -> list[Screen]:
    return [
        Screen(9, 2, 3),
        Screen(18, 2, 6),
        Screen(27, 2, 9),  # the quick profile's
        Screen(18, 1, 6),
    ]


def brackets(table: Table) -> list[Bracket]:
    """The bracket shapes replayed: fold 1's early epochs, fold 1's end, then all folds."""
    k = table.folds
    return [
        Bracket(9, ((0, 2), (1, 0), (k, 0))),
        Bracket(18, ((0, 2), (1, 0), (k, 0))),
        Bracket(12, ((0, 2), (1, 0), (k, 0)), eta=2),
        Bracket(27, ((0, 2), (1, 0), (2, 0), (k, 0))),
        Bracket(9, ((1, 0), (2, 0), (k, 0))),
        Bracket(9, ((0, 4), (k, 0))),
    ]


def twin_stops(table: Table, settings, within: float = 0.01) -> list[str]:
    """Where the toolkit's rule with ``settings`` stops a run of a configuration that could win
    (within ``within`` of the table's best true score) when the other runs of that configuration
    (its twins: other model seeds) ran before it in full, judging from the first twin on (the
    start-up is set to the twins' number). Empty for a twin-safe rule (tests/pruners/test_replay.py)."""
    import dataclasses

    from tuner.pruners.rule import Finished, make_rule

    best = table.true_score(table.best)
    found = []
    for config, runs in table.runs.items():
        if len(runs) < 2 or table.true_score(config) < best - within:
            continue
        for i, run in enumerate(runs):
            earlier = [
                Finished(tuple(tuple(c) for c in r.curves), tuple(r.final), True)
                for j, r in enumerate(runs)
                if j != i
            ]
            judged = dataclasses.replace(settings, startup_trials=len(earlier))
            why = _first_stop(make_rule(earlier, judged, table.val_size, table.epochs), run)
            if why:
                found.append(f"config {config} run {i}: {why}")
    return found


def _first_stop(rule, run: Run) -> str | None:
    """Where ``rule`` would stop ``run``, replayed fold by fold and epoch by epoch, or None."""
    stop = first_stop(rule, run.curves, run.final, len(run.curves))
    if stop is None:
        return None
    fold, epoch, why = stop
    return f"fold {fold + 1}, {why}" if epoch else f"after fold {fold + 1}: {why}"


def first_stop(rule, curves, final, folds: int) -> tuple[int, int | None, str] | None:
    """Where ``rule`` (a ``tuner.pruners.PruneRule``) would stop a trial whose validation
    accuracy per fold and epoch is ``curves`` and whose fold scores are ``final``, replayed fold
    by fold and epoch by epoch: (fold, epoch, why) from 0 and 1, epoch None for a stop after
    the fold; None if it would go on through all that ``curves`` hold. A fold's end is judged
    for a whole fold (``rule.epochs`` long) that is not the last of ``folds``; a shorter curve
    (a trial recorded only in part) ends the replay."""
    for fold, curve in enumerate(curves):
        for epoch in range(1, len(curve) + 1):
            why = rule.stop_after_epoch(fold, epoch, float(max(curve[:epoch])))
            if why:
                return fold, epoch, why
        if len(curve) < rule.epochs:
            return None
        if fold < folds - 1:
            why = rule.stop_after_fold(list(final[: fold + 1]))
            if why:
                return fold, None, why
    return None


# --- the benchmark ----------------------------------------------------------------------------


def search_regrets(table: Table, replays: list[Replay], budget: float, seconds=False) -> np.ndarray:
    """Each search's regret (accuracy points) at ``budget``; a search with no pick yet scores
    the table's worst configuration."""
    best = table.true_score(table.best)
    worst = min(table.true_score(c) for c in table.configs)
    picks = [r.pick_at_seconds(budget) if seconds else r.pick_at(budget) for r in replays]
    return 100 * np.array([best - (worst if pick is None else pick) for pick in picks])


def regrets(table: Table, replays: list[Replay], budgets: list[float], seconds=False) -> np.ndarray:
    """Mean regret (accuracy points) at each budget."""
    return np.array([search_regrets(table, replays, b, seconds).mean() for b in budgets])


def paired_difference(table: Table, a: list[Replay], b: list[Replay], budget: float):
    """Mean regret of ``a`` less ``b``'s at ``budget`` over the same seeds (searches that drew
    the same configurations in the same order), and its standard error: whether two strategies
    differ by more than the seeds' luck."""
    diff = search_regrets(table, a, budget) - search_regrets(table, b, budget)
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def strategies(table: Table) -> dict[str, Callable[[], Strategy]]:
    from tuner.pruners.rule import PruneSettings

    found = {
        "random, no pruning": Strategy,
        "toolkit before (best-trial bar)": CurrentRule,
        "toolkit (default)": lambda: ToolkitRule(PruneSettings()),
        # the default chosen on the first table (until 2026-11-27)
        "toolkit until 2026-11-27 (start-up 3, fold ends only, 2 sd)": lambda: ToolkitRule(
            PruneSettings(startup_trials=3, warmup=1.0, quantile=0.75, noise_z=2.0)
        ),
        # the default for a few hours of 2026-11-27: it pruned a real quick search's best
        "toolkit rungs from epoch 1 (default until the evening of 2026-11-27)": lambda: ToolkitRule(
            PruneSettings(warmup=0.0)
        ),
        # asynchronous successive halving with a rung at each fold: keep the best third
        "successive halving over folds (eta 3)": lambda: ToolkitRule(
            PruneSettings(quantile=2 / 3, noise_z=0.0, margin=0.0)
        ),
    }
    found.update(optuna_pruners(table))
    # the least compute any rule deciding at these points could spend (no rule knows the future)
    for fold, epoch in ((0, 1), (0, table.epochs // 2), (0, table.epochs)):
        found[Clairvoyant(fold, epoch).name] = lambda f=fold, e=epoch: Clairvoyant(f, e)
    return found


def compute_ratio(table, strategy, random, target_units: float, fine: np.ndarray) -> float:
    """Fold-epochs the strategy needs to reach random search's regret at ``target_units`` trials'
    worth of compute, as a fraction of that compute (inf: never within the grid)."""
    full = table.folds * table.epochs
    goal = regrets(table, random, [target_units * full])[0]
    curve = regrets(table, strategy, list(fine * full))
    hits = np.flatnonzero(curve <= goal + 1e-9)
    return float(fine[hits[0]] / target_units) if hits.size else math.inf


def plot(table, rows, units, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve, *_ in rows:
        ax.plot(units, curve, marker="o", markersize=3, label=name)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("compute (unpruned trials' worth of fold-epochs)")
    ax.set_ylabel("mean regret (accuracy points)")
    ax.set_title(f"Replayed searches on {len(table.configs)} configurations")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--grid", action="store_true", help="also replay variants of the rule")
    parser.add_argument("--write", action="store_true", help="update results/benchmarks.md")
    args = parser.parse_args()
    table = load_table(args.table)
    full = table.folds * table.epochs  # one unpruned trial, in fold-epochs
    units = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    fine = np.arange(0.25, 32.01, 0.25)
    budgets = [u * full for u in units]
    budget = budgets[-1]
    print(
        f"table: {len(table.configs)} configurations, {table.folds} folds x {table.epochs} epochs;"
        f" best {100 * table.true_score(table.best):.2f} % (config {table.best})",
        flush=True,
    )
    makers = strategies(table)
    if args.grid:
        from tuner.pruners.rule import PruneSettings

        for startup in (1, 3):
            for q in (0.5, 0.75):
                for warmup in (0.3, 0.5, 1.0):
                    for z in (2.0, 3.0):
                        settings = PruneSettings(
                            startup_trials=startup, warmup=warmup, quantile=q, noise_z=z
                        )
                        makers[f"toolkit {settings.label()}"] = lambda settings=settings: (
                            ToolkitRule(settings)
                        )
        # successive halving's rungs in epochs: fold 1's epochs 1, k, k^2, ... (those after the
        # warm-up), then fold ends
        for factor in (2, 3):
            for warmup in (0.0, 0.1, 0.2):
                for q in (0.5, 0.75):
                    for z in (2.0, 3.0):
                        settings = PruneSettings(
                            warmup=warmup, quantile=q, noise_z=z, rung_factor=factor
                        )
                        makers[f"toolkit {settings.label()}"] = lambda settings=settings: (
                            ToolkitRule(settings)
                        )
    results = {}
    twins_stopped = {}  # the toolkit's rules: runs of near-best configurations their twins stop
    for name, make in makers.items():
        probe = make()
        if isinstance(probe, ToolkitRule):
            twins_stopped[name] = len(twin_stops(table, probe.settings))
        results[name] = [replay(table, make(), seed, budget) for seed in range(args.seeds)]
    for shape in screens(table):
        results[shape.name] = [
            replay_screen(table, shape, seed, budget) for seed in range(args.seeds)
        ]
    for shape in brackets(table):
        results[shape.name] = [
            replay_brackets(table, shape, seed, budget) for seed in range(args.seeds)
        ]
    with contextlib.redirect_stdout(io.StringIO()):  # the oracle prints every trial
        results["keras-tuner Hyperband"] = [
            replay_hyperband(table, seed, budget) for seed in range(args.seeds)
        ]
    random = results["random, no pruning"]
    default = results["toolkit (default)"]
    # the same budgets in seconds: multiples of an unpruned trial's mean time in the table
    trial_seconds = float(np.mean([r.seconds.sum() for runs in table.runs.values() for r in runs]))
    seconds_budgets = [u * trial_seconds for u in units]
    rows = []
    for name, replays in results.items():
        curve = regrets(table, replays, budgets)
        in_seconds = regrets(table, replays, seconds_budgets, seconds=True)
        drawn = sum(r.best_drawn for r in replays)
        pruned = sum(r.best_pruned for r in replays)
        ratio = {u: compute_ratio(table, replays, random, u, fine) for u in (4, 8, 16)}
        twins = twins_stopped.get(name)
        paired = {u: paired_difference(table, replays, default, u * full) for u in PAIRED_AT}
        rows.append((name, curve, drawn, pruned, ratio, in_seconds, twins, paired))
        print(
            f"{name[:44]:44s} "
            + " ".join(f"{v:5.2f}" for v in curve)
            + f"  best pruned {pruned}/{drawn}  ratio@8 {ratio[8]:.2f}"
            + ("" if twins is None else f"  twins stopped {twins}"),
            flush=True,
        )
    print("budgets (trials' worth of fold-epochs):", units)
    if args.write:
        shown = [r[:5] for r in rows if not r[0].startswith("toolkit q")]
        plot(table, shown, units, plot_path(args.table))
        write_results(table, rows, units, args, trial_seconds)


def plot_path(table: Path) -> Path:
    """results/replay_regret.png for the first table, replay_regret-SUFFIX.png for
    curves-SUFFIX.jsonl and the like: each table keeps its plot."""
    if table.resolve() == TABLE:
        return ROOT / "results" / "replay_regret.png"
    suffix = table.stem.removeprefix("curves").lstrip("-_") or table.stem
    return ROOT / "results" / f"replay_regret-{suffix}.png"


def section_title(table: Path) -> str:
    title = "## Search strategies replayed on the learning-curve table"
    return title if table.resolve() == TABLE else f"{title} `{repo_path(table)}`"


def write_results(table, rows, units, args, trial_seconds: float) -> None:
    from bench.results_file import write_section

    header = "| strategy | " + " | ".join(f"{u}" for u in units) + " | best pruned | "
    header += "compute for random's regret at 4 / 8 / 16 trials | twins stopped |"
    lines = [
        section_title(args.table),
        "",
        f"`{' '.join(['python', *sys.argv])}`: {args.seeds} replayed searches per strategy on "
        f"`{repo_path(args.table)}` ({len(table.configs)} configurations, "
        f"{sum(len(r) for r in table.runs.values())} runs, {table.folds} folds x {table.epochs} "
        f"epochs, best {100 * table.true_score(table.best):.2f} %). Mean regret in accuracy "
        "points at each compute budget (in unpruned trials' worth of fold-epochs); how often "
        "the table's best configuration was pruned when drawn; the compute a strategy needs to "
        "reach random search's regret, as a fraction of random's; for the toolkit's rules, how "
        "many runs of the near-best repeated configurations their twins stop (`twin_stops`; 0 "
        "for a twin-safe rule). Plot: "
        f"`{repo_path(plot_path(args.table))}`."
        + (
            f" **Partial table: {len(table.configs)} of the 64 configurations bench/curves.py "
            "plans; with so few, every strategy sees most of them within a few trials' worth "
            "of compute, and compute ratios mean little yet.**"
            if len(table.configs) < 64
            else ""
        ),
        "",
        header,
        "|" + " --- |" * (len(units) + 4),
    ]
    for name, curve, drawn, pruned, ratio, _, twins, _ in rows:
        share = f"{pruned}/{drawn}" + (f" ({100 * pruned / drawn:.0f} %)" if drawn else "")
        ratios = " / ".join("never" if math.isinf(v) else f"{v:.2f}" for v in ratio.values())
        cells = " | ".join(f"{v:.2f}" for v in curve)
        twins = "" if twins is None else str(twins)
        lines.append(f"| {name} | {cells} | {share} | {ratios} | {twins} |")
    lines += [
        "",
        f"The same searches at equal wall time: mean regret at budgets of 1 to 32 unpruned trials' "
        f"mean time ({trial_seconds:.0f} s each on the table's machine; the table's seconds were "
        "measured on 2 shared cores, so they carry that machine's noise):",
        "",
        "| strategy | " + " | ".join(f"{u}" for u in units) + " |",
        "|" + " --- |" * (len(units) + 1),
    ]
    for name, *_, in_seconds, _, _ in rows:
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in in_seconds) + " |")
    lines += [
        "",
        "Paired against the default on the same seeds (each seed draws the same configurations "
        "in the same order for every strategy): mean regret of the strategy less the default's, "
        "in accuracy points, ± 2 standard errors over the searches; negative: the strategy "
        "picks better. A difference inside its ± is the seeds' luck, not the strategy. Budgets "
        "in trials' worth of fold-epochs (the `quick` profile's search spends about 4-7):",
        "",
        "| strategy | " + " | ".join(f"{u}" for u in PAIRED_AT) + " |",
        "|" + " --- |" * (len(PAIRED_AT) + 1),
    ]
    for name, *_, paired in rows:
        if name == "toolkit (default)" or name.startswith("toolkit q"):
            continue
        cells = " | ".join(f"{m:+.2f} ± {2 * se:.2f}" for m, se in paired.values())
        lines.append(f"| {name} | {cells} |")
    write_section("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
