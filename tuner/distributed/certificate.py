"""The chief's certificate: the channel between a chief and its workers is TLS, so a listener on
the network reads neither the workers' keys (``tuner.distributed.secret``) nor what they report.

Each search has its own certificate, made once by the chief (``chief.crt``, and its key
``chief.key``, owner-only, beside the secret) and kept across resumes. A worker trusts exactly
that certificate (pinned, not a certificate authority): from ``--cert-file``
(``DIGIT_TUNER_CERT_FILE``) or the shared search directory. The certificate names the chief
``digit-tuner-chief``, whatever its address, and a worker checks that name, so a chief is reached
by IP or by any host name alike.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from tuner.distributed.credentials import credential_file
from tuner.errors import SearchError

__all__ = [
    "CERT_FILE",
    "KEY_FILE",
    "CERT_FILE_ENV",
    "SERVER_NAME",
    "chief_certificate",
    "worker_certificate",
]

CERT_FILE = "chief.crt"
KEY_FILE = "chief.key"
CERT_FILE_ENV = "DIGIT_TUNER_CERT_FILE"
SERVER_NAME = "digit-tuner-chief"
_VALID_DAYS = 3650  # a search may be resumed years later; the certificate is pinned, not trusted


def chief_certificate(directory: Path) -> tuple[bytes, bytes]:
    """(key, certificate), PEM, of the search in ``directory``, made (key owner-only) if it has
    none yet.

    Raises:
        SearchError: the key can be read by other users.
    """
    key_path, cert_path = Path(directory) / KEY_FILE, Path(directory) / CERT_FILE
    if not (key_path.is_file() and cert_path.is_file()):
        key, cert = _make_certificate()
        _write(key_path, key, 0o600)
        _write(cert_path, cert, 0o644)
    mode = key_path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SearchError(
            f"{key_path}: the chief's key is readable by other users (mode "
            f"{stat.filemode(mode)}); run `chmod 600 {key_path}`"
        )
    return key_path.read_bytes(), cert_path.read_bytes()


def worker_certificate(directory: Path) -> bytes:
    """The certificate a worker of the search in ``directory`` trusts (module doc).

    Raises:
        SearchError: none found.
    """
    missing = (
        f"no certificate of this search's chief; give the worker a copy of the chief's "
        f"{CERT_FILE} with --cert-file"
    )
    return credential_file(directory, CERT_FILE, CERT_FILE_ENV, missing).read_bytes()


def _make_certificate() -> tuple[bytes, bytes]:
    """A new P-256 key and a self-signed certificate naming ``SERVER_NAME``, both PEM."""
    # cryptography loads only when a certificate is made: the CLI imports this module for the
    # names of its files and variable, and starts without it
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private, cert.public_bytes(pem)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Writes ``path`` with ``mode`` from its creation (the key is never readable by others)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
