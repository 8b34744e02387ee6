"""The search's secret: what a worker of a distributed search proves it holds.

The chief of a distributed search answers anyone who can reach its port; the secret is how it tells
its workers from strangers. It is created once per search directory (``chief.secret``, readable by
its owner only) and kept across resumes, so that a remote worker given it once stays able to join.

A worker never sends the secret itself: it sends its id and ``worker_key(secret, id)``, an HMAC of
the id. The key proves the id as well as the secret, so a worker cannot act under another worker's
id, and a key read off the wire is worth only the one id it names.

Where a worker finds the secret, first found first: ``DIGIT_TUNER_SECRET`` (the secret's text),
``DIGIT_TUNER_SECRET_FILE`` (a file holding it, e.g. copied to another machine), then the search
directory's own ``chief.secret`` (a results directory shared with the chief).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

from tuner.distributed.credentials import credential_file
from tuner.errors import SearchError

__all__ = [
    "SECRET_FILE",
    "SECRET_ENV",
    "SECRET_FILE_ENV",
    "chief_secret",
    "worker_secret",
    "worker_key",
    "keys_match",
    "is_worker_id",
    "check_worker_id",
    "WORKER_ID_RULE",
]

SECRET_FILE = "chief.secret"
SECRET_ENV = "DIGIT_TUNER_SECRET"
SECRET_FILE_ENV = "DIGIT_TUNER_SECRET_FILE"
_WORKER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SECRET_BYTES = 32  # 256 bits: beyond guessing at any rate a network allows


def chief_secret(directory: Path) -> str:
    """The secret of the search in ``directory``, created (owner-only) if it has none yet.

    Raises:
        SearchError: the file can be read by other users, or is empty.
    """
    path = Path(directory) / SECRET_FILE
    try:
        # O_EXCL: of two processes creating it at once, one writes it and both read the same
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(_SECRET_BYTES) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return _read(path)


def worker_secret(directory: Path) -> str:
    """The secret a worker of the search in ``directory`` authenticates with (module doc).

    Raises:
        SearchError: none found, or a file readable by other users.
    """
    if os.environ.get(SECRET_ENV, "").strip():
        return os.environ[SECRET_ENV].strip()
    missing = (
        f"no secret for this search; give the worker the chief's {SECRET_FILE} with "
        f"--secret-file, or its text in {SECRET_ENV}"
    )
    return _read(credential_file(directory, SECRET_FILE, SECRET_FILE_ENV, missing))


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SearchError(
            f"{path}: the search's secret is readable by other users "
            f"(mode {stat.filemode(mode)}); run `chmod 600 {path}`"
        )
    text = path.read_text().strip()
    if not text:
        raise SearchError(f"{path}: the search's secret is empty")
    return text


def worker_key(secret: str, worker_id: str) -> str:
    """What the worker ``worker_id`` sends to prove it holds ``secret``."""
    return hmac.new(secret.encode(), worker_id.encode(), hashlib.sha256).hexdigest()


def keys_match(secret: str, worker_id: str, key: str) -> bool:
    """Whether ``key`` is ``worker_id``'s key under ``secret`` (compared in constant time)."""
    return hmac.compare_digest(worker_key(secret, worker_id).encode(), key.encode())


WORKER_ID_RULE = (
    "up to 64 letters, digits and _.:- without 'chief' (keras-tuner takes any id containing it "
    "for the chief)"
)


def is_worker_id(text) -> bool:
    """Whether ``text`` may name a worker (``WORKER_ID_RULE``)."""
    return isinstance(text, str) and bool(_WORKER_ID.fullmatch(text)) and "chief" not in text


def check_worker_id(text) -> str:
    """``text`` if it may name a worker, else a SearchError that says the rule."""
    if not is_worker_id(text):
        raise SearchError(f"a worker id is {WORKER_ID_RULE}; got {text!r}")
    return text
