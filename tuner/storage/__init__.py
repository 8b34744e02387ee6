"""The search directory's one owner: its layout and lock (``directory``), ``search.json``
(``manifest``), the trials' records (``records``) and atomic writes (``atomic``)."""

from tuner.storage.manifest import SearchHandle, open_search, read_manifest, search_dir_for
from tuner.storage.records import (
    FoldResult,
    TrialRecord,
    TrialState,
    best_record,
    load_records,
    ranked,
    summarize_searches,
)

__all__ = [
    "FoldResult",
    "SearchHandle",
    "TrialRecord",
    "TrialState",
    "best_record",
    "load_records",
    "open_search",
    "ranked",
    "read_manifest",
    "search_dir_for",
    "summarize_searches",
]
