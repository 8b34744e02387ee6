"""How numbers read in the terminal: scores, hyperparameter values, durations, counts."""

from __future__ import annotations

from typing import Any

from tuner.storage.records import TrialState

__all__ = [
    "STATE_LABEL",
    "STATE_STYLE",
    "format_value",
    "format_score",
    "format_seconds",
    "format_count",
    "format_eta",
]

STATE_LABEL = {
    TrialState.COMPLETE: "done",
    TrialState.PRUNED: "pruned",
    TrialState.FAILED: "failed",
    TrialState.RUNNING: "running",
    TrialState.DAMAGED: "damaged",
}
STATE_STYLE = {
    TrialState.COMPLETE: "green",
    TrialState.PRUNED: "cyan",
    TrialState.FAILED: "red",
    TrialState.RUNNING: "yellow",
    TrialState.DAMAGED: "red",
}


def format_value(value: Any) -> str:
    """A hyperparameter value, short: 0.00123 -> 0.0012, 3e-05 -> 3e-05, 0.30000001 -> 0.3."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2g}" if value != 0 and abs(value) < 1e-2 else f"{value:.3g}"
    return str(value)


def format_score(mean: float | None, std: float | None) -> str:
    """Mean ± std of fold accuracies, in percent."""
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}±{100 * (std or 0.0):.2f}"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_count(n: int | None) -> str:
    if not n:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.0f}k" if n >= 10_000 else str(n)


def format_eta(seconds: float | None) -> str:
    """``1:02:03``, ``4:05``, or ``-:--`` while unknown."""
    if seconds is None:
        return "-:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
