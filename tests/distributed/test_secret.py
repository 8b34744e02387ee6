"""The search's secret (tuner.distributed.secret): created once, owner-only, found by a worker."""

from __future__ import annotations

import os
import stat

import pytest

from tuner.distributed.secret import (
    SECRET_ENV,
    SECRET_FILE,
    SECRET_FILE_ENV,
    check_worker_id,
    chief_secret,
    is_worker_id,
    keys_match,
    worker_key,
    worker_secret,
)
from tuner.errors import SearchError


def test_the_secret_is_created_once_readable_by_its_owner_only(tmp_path):
    secret = chief_secret(tmp_path)
    assert len(secret) == 64 and chief_secret(tmp_path) == secret  # kept across resumes
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    other = tmp_path / "other"
    other.mkdir()
    assert chief_secret(other) != secret


def test_a_secret_others_can_read_is_refused(tmp_path):
    chief_secret(tmp_path)
    os.chmod(tmp_path / SECRET_FILE, 0o644)
    with pytest.raises(SearchError, match=r"readable by other users .*chmod 600"):
        chief_secret(tmp_path)
    os.chmod(tmp_path / SECRET_FILE, 0o600)
    (tmp_path / SECRET_FILE).write_text("\n")
    with pytest.raises(SearchError, match="empty"):
        chief_secret(tmp_path)


def test_a_worker_finds_the_secret_in_its_environment_a_file_or_the_directory(
    tmp_path, monkeypatch
):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    with pytest.raises(SearchError, match="--secret-file"):
        worker_secret(tmp_path)
    secret = chief_secret(tmp_path)
    assert worker_secret(tmp_path) == secret
    copy = tmp_path / "copy.secret"
    copy.write_text("from-a-file\n")
    copy.chmod(0o600)
    monkeypatch.setenv(SECRET_FILE_ENV, str(copy))
    assert worker_secret(tmp_path) == "from-a-file"
    monkeypatch.setenv(SECRET_ENV, "from-the-environment")
    assert worker_secret(tmp_path) == "from-the-environment"


def test_a_key_proves_one_id_under_one_secret():
    key = worker_key("s", "worker0")
    assert keys_match("s", "worker0", key)
    assert not keys_match("s", "worker1", key)
    assert not keys_match("t", "worker0", key)
    assert not keys_match("s", "worker0", "")


def test_worker_ids_are_plain_names():
    assert is_worker_id("worker0") and is_worker_id("host-1.lab:7")
    assert check_worker_id("worker0") == "worker0"
    with pytest.raises(SearchError, match="a worker id is up to 64 .* 'chief' .*; got 'chief-2'"):
        check_worker_id("chief-2")  # the one message of the rule, from the CLI and the launcher
    for bad in ("", "chief", "a-chief-b", "../x", "/abs", "a\x00b", "w" * 65, None, 3):
        assert not is_worker_id(bad)
