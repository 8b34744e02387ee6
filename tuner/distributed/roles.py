"""This process's part in a search, and so what it may write: a local search and a distributed
search's chief own the search directory; a worker only reads it and reports to the chief."""

from __future__ import annotations

import os

__all__ = ["role", "chief_address", "worker_id"]


def role() -> str:
    """ "local", or "chief" / "worker" of a distributed search (keras-tuner's KERASTUNER_TUNER_ID,
    KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT)."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def chief_address() -> tuple[str, int]:
    """Where the chief of this distributed search listens (keras-tuner's KERASTUNER_ORACLE_IP and
    KERASTUNER_ORACLE_PORT)."""
    return os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])


def worker_id() -> str:
    """This process's id in a distributed search (keras-tuner's KERASTUNER_TUNER_ID)."""
    return os.environ["KERASTUNER_TUNER_ID"]
