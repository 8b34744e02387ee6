"""Screen, then search (``--screen N``): many configurations judged cheaply, the best in full.

A round draws ``size`` configurations (the search's first: the space's default point, then
random ones) and trains each for ``epochs`` epochs of the first fold
only (a *screen*: a keras-tuner trial recorded as pruned, with its score at that point); once the
round's screens are in, the best ``keep`` of them run as full trials, best first, every fold and
epoch, under the search's pruning rule; then the next round. Synchronous successive halving with
one cheap rung, on keras-tuner's oracle API: the oracle hands out the screens and the promotions,
the CV tuner trains them.

Why (results/benchmarks.md, the replay on ``results/curves-8400.jsonl``, 200 seeds paired): a
rule that judges trials one after another must train every new best in full. Screening 27
configurations at fold 1's epoch 2 and running the best 9 in full halves the
pruning rule's regret at 4-6 trials' worth of compute, is no worse than Optuna's
SuccessiveHalving from there on, and never dropped the table's best. On the real quick searches
(tests/fixtures/quick_curves.json) every search's best configuration was in the top third of its
search at fold 1's epoch 2; at epoch 1, 3 of 6 were not (batch-norm winners lag there). The
quick profile screens 45 and keeps 9, the time its faster trainer freed (results/benchmarks.md,
"The quick profile as Kaggle runs it").

A round that ``--trials`` leaves too few trials for shrinks to fit its promotions
(``Screening.round_shape``); with fewer than 2 screens left to draw, the last trials run in
full. Under a budget a round closes early once another screen and
then a full trial would not fit (``round_closes``; the tuner asks it through
``tuner.search.budget.screens_too_late``, with the times its records show), and while only screens
have run the budgets never end the search: there is always a full trial to export.

A promoted trial is seeded as its screen was (``seed_trial``) and its fold 1 goes on from the
screen's model, weights and optimizer state (``tuner.training.folds.FoldStart``): the screen's
epochs are the trial's first, not trained twice, and the screen's score and the full trial's are
two looks at one run, as the replay assumes. The screens never enter the pruning rule's
references (they had their own judgement), the ranking, the export or the importance analysis:
their one partial fold is not a CV score.


All of it is here, each module at the layer its imports put it (``pyproject.toml``'s contracts):

- ``marks``: how a trial says it is a screen or a promotion (read wherever records are);
- ``rounds``: a round's shape, a screen's stop, when a round closes under a budget, and the
  course of rounds a search takes (``simulated_course``: what ``search --dry-run`` estimates);
- ``oracle``: ``ScreeningOracle``, keras-tuner's random oracle in rounds.

The trainer's side (a promoted trial's fold 1 going on from its screen's model) is
``tuner.training.folds.FoldStart``; the CV tuner (``tuner.search.cv_tuner``) wires them together.
"""

from importlib import import_module

__all__ = ["SCREEN_KEY", "SCREENED_KEY", "Screening", "ScreenStop", "ScreeningOracle", "is_screen"]

_HOMES = {
    "SCREEN_KEY": "marks",
    "SCREENED_KEY": "marks",
    "is_screen": "marks",
    "Screening": "rounds",
    "ScreenStop": "rounds",
    "ScreeningOracle": "oracle",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"tuner.screening.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'tuner.screening' has no attribute {name!r}")
