"""What the user sees: progress events (``events``), the terminal's reporters, tables and number
formats. Display only: the search reports events and never renders."""

from tuner.ui.events import Eta, Reporter
from tuner.ui.reporters import make_reporter, shown

__all__ = [
    "Eta",
    "Reporter",
    "make_reporter",
    "shown",
]
