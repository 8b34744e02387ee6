"""TensorBoard logs with the HParams plugin: every trial's hyperparameters, CV scores and curves.

Written with TensorBoard's own protobufs and event writer (no TensorFlow needed, so the JAX and
torch backends log the same way). Layout under ``results/<search>/tensorboard/``::

    events...              the experiment: the space's varying hyperparameters and the metrics
    trial_<id>/events...   the trial's hyperparameters and cv/val_accuracy, cv/val_accuracy_std
    trial_<id>/fold_<k>/   per-epoch accuracy, loss, val_accuracy, val_loss of fold k

``tensorboard --logdir results/<search>/tensorboard`` shows them (HPARAMS tab: one row per trial).
"""

from __future__ import annotations

import time
from pathlib import Path

from tuner import faults
from tuner.space.spaces import SearchSpace
from tuner.storage.records import TrialRecord, TrialState

__all__ = ["METRICS", "write_experiment", "write_trial", "read_scalars", "read_hparams"]

METRICS = (
    ("cv/val_accuracy", "CV accuracy (mean over folds)"),
    ("cv/val_accuracy_std", "CV accuracy (std over folds)"),
)


def _writer(directory: Path):
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    directory.mkdir(parents=True, exist_ok=True)
    return EventFileWriter(str(directory))


def _event(summary, step: int = 0):
    from tensorboard.compat.proto import event_pb2

    return event_pb2.Event(summary=summary, wall_time=time.time(), step=step)


def _scalar(tag: str, value: float):
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def write_experiment(logdir: Path, space: SearchSpace) -> None:
    """Declares the experiment (once per search: a resumed search keeps the first declaration)."""
    from tensorboard.plugins.hparams import summary_v2 as hparams

    logdir = Path(logdir)
    if logdir.is_dir() and any(logdir.glob("events.out.tfevents.*")):
        return
    declared = []
    for entry in space.hyperparameters:
        if not entry.varies:
            continue
        if entry.type == "choice":
            domain = hparams.Discrete(list(entry.values))
        elif entry.type == "boolean":
            domain = hparams.Discrete([False, True])
        elif entry.type == "int":
            domain = hparams.IntInterval(int(entry.min), int(entry.max))
        else:
            domain = hparams.RealInterval(float(entry.min), float(entry.max))
        declared.append(hparams.HParam(entry.name, domain))
    metrics = [hparams.Metric(tag, display_name=name) for tag, name in METRICS]
    writer = _writer(logdir)
    writer.add_event(_event(hparams.hparams_config_pb(declared, metrics)))
    writer.close()


def write_trial(logdir: Path, record: TrialRecord) -> None:
    """Logs one finished trial: hyperparameters, CV scores, and per-fold learning curves."""
    from tensorboard.plugins.hparams import summary_v2 as hparams

    trial_dir = Path(logdir) / f"trial_{record.trial_id}"
    faults.point(f"write:tensorboard/trial_{record.trial_id}")
    values = {
        k: v for k, v in record.hyperparameters.items() if isinstance(v, (bool, int, float, str))
    }
    writer = _writer(trial_dir)
    writer.add_event(_event(hparams.hparams_pb(values, trial_id=f"trial_{record.trial_id}")))
    if record.state is TrialState.COMPLETE:
        writer.add_event(_event(_scalar("cv/val_accuracy", record.mean)))
        writer.add_event(_event(_scalar("cv/val_accuracy_std", record.std)))
    writer.close()
    for fold in record.folds:
        fold_writer = _writer(trial_dir / f"fold_{fold.fold}")
        for key, series in fold.history.items():
            for epoch, value in enumerate(series, start=1):
                fold_writer.add_event(_event(_scalar(f"epoch/{key}", value), step=epoch))
        fold_writer.close()


def read_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars logged in one run directory, by tag: [(step, value), ...] (for tests and checks)."""
    # the legacy loader yields events as written (the other one rewrites scalars as tensors)
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def read_hparams(directory: Path) -> list:
    """The HParams plugin records logged in one run directory (``HParamsPluginData``: the
    experiment at the top, one session per trial), for tests and checks."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    found = []
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData()
                    data.ParseFromString(value.metadata.plugin_data.content)
                    found.append(data)
    return found
