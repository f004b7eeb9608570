"""Signing keys at rest: encrypted with a key-encryption key (KEK) kept outside the database.

The embedded issuer's private keys once sat in ``signing_keys`` as plain PEM, so anyone holding a
database backup could mint administrator tokens. Each is now stored as
``ehp-kek-v1:<KEK fingerprint>:<base64(nonce + AES-256-GCM ciphertext)>``, its ``kid`` bound as
associated data. The KEK is 32 random bytes, from ``EHP_KEY_ENCRYPTION_KEY`` (base64) or the file
``EHP_KEY_ENCRYPTION_KEY_FILE`` (default ``~/.config/ehp/key-encryption-key``, created with mode
0600 when missing). Keep that file off the database's machine and out of its backups; rotate it
with ``ehp keys rekey --database URL --new-key-file PATH`` and then point the setting at the new
file. A key stored in plain PEM by an older version is encrypted the next time the keys are read.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "ehp-kek-v1"
DEFAULT_FILE = Path.home() / ".config" / "ehp" / "key-encryption-key"


class KeyEncryptionError(RuntimeError):
    """The KEK is missing, malformed, or not the one a stored key was encrypted with."""


def load_kek(path: Path | None = None) -> bytes:
    """The configured KEK (created in its file on first use)."""
    inline = os.environ.get("EHP_KEY_ENCRYPTION_KEY")
    if inline and path is None:
        return _decode(inline, "EHP_KEY_ENCRYPTION_KEY")
    file = path or Path(os.environ.get("EHP_KEY_ENCRYPTION_KEY_FILE") or DEFAULT_FILE)
    if not file.exists():
        create_kek_file(file)
    return _decode(file.read_text().strip(), str(file))


def create_kek_file(file: Path) -> None:
    """A new random KEK in ``file`` (mode 0600), written whole before it appears: processes
    starting together all end up with the one that was linked first."""
    file.parent.mkdir(parents=True, exist_ok=True)
    draft = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(draft, file)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def _decode(text: str, where: str) -> bytes:
    try:
        kek = base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyEncryptionError(f"{where}: the key-encryption key must be 32 bytes in base64") from None
    if len(kek) != 32:
        raise KeyEncryptionError(f"{where}: the key-encryption key must be 32 bytes, not {len(kek)}")
    return kek


def fingerprint(kek: bytes) -> str:
    return hashlib.sha256(kek).hexdigest()[:16]


def seal(kek: bytes, kid: str, pem: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(kek).encrypt(nonce, pem.encode(), kid.encode())
    return f"{PREFIX}:{fingerprint(kek)}:{base64.b64encode(nonce + sealed).decode()}"


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX + ":")


def unseal(kek: bytes, kid: str, stored: str) -> str:
    _, mark, body = stored.split(":", 2)
    if mark != fingerprint(kek):
        raise KeyEncryptionError(
            f"signing key {kid} was encrypted with another key-encryption key ({mark}); set "
            "EHP_KEY_ENCRYPTION_KEY_FILE to that one"
        )
    raw = base64.b64decode(body)
    return AESGCM(kek).decrypt(raw[:12], raw[12:], kid.encode()).decode()
