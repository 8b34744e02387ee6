"""Where a worker finds a credential of its search's chief (the secret, the certificate): the
file an environment variable names, else the file of that name in the search directory; one line
naming the path and the way to give it when neither is there."""

from __future__ import annotations

import os
from pathlib import Path

from tuner.errors import SearchError

__all__ = ["credential_file"]


def credential_file(directory: Path, file_name: str, env_var: str, missing: str) -> Path:
    """The credential's path; ``missing`` (what it is and how to give it) follows the path in
    the error when there is none.

    Raises:
        SearchError: no such file.
    """
    given = os.environ.get(env_var)
    path = Path(given) if given else Path(directory) / file_name
    if not path.is_file():
        raise SearchError(f"{path}: {missing}")
    return path
