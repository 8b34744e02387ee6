"""The search: its plan and settings' checks (``plan``), the one budget rule (``budget``), the
oracles, the CV tuner and ``run_search`` / ``resume_search`` (``driver``). Importing it loads Keras."""

from tuner.search.driver import SearchResult, load_search, prepare_search, resume_search, run_search
from tuner.search.plan import SearchPlan, plan_search
from tuner.search.results import SearchResults, open_results

__all__ = [
    "SearchPlan",
    "SearchResults",
    "SearchResult",
    "load_search",
    "open_results",
    "plan_search",
    "prepare_search",
    "resume_search",
    "run_search",
]
