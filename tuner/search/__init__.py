"""The search: its plan and settings' checks (``plan``), the one budget rule (``budget``), the
oracles, the CV tuner and ``run_search`` / ``resume_search`` (``driver``). Importing it loads Keras."""

from tuner.search.driver import SearchResult, load_search, prepare_search, resume_search, run_search
from tuner.search.plan import SearchPlan, plan_search

__all__ = [
    "SearchPlan",
    "SearchResult",
    "load_search",
    "plan_search",
    "prepare_search",
    "resume_search",
    "run_search",
]
