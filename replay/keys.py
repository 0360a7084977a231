"""The checkpoint signing key: made on first use in the data directory, never logged.

The key file ``<HSL_DATA_DIR>/audit/signer.key`` holds the Ed25519 signer key in Go's
``PRIVATE+KEY+…`` form, readable by its owner only (mode 0600), linked into place whole so two
processes starting at once end up with one key. Auditors get the public half from
``hsl audit key`` (``name+keyid+base64``) and pass it to ``hsl audit verify --key``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from events.redact import SECRETS
from replay.signed_note import KeyFormatError, SignerKey

KEY_DIR: Final = "audit"
KEY_FILE: Final = "signer.key"


class KeyFileError(RuntimeError):
    """The key file cannot be read or written; the message names the file, never the key."""


def origin_for(stream: str) -> str:
    """The log's checkpoint origin, also the signing key's name (c2sp tlog-checkpoint)."""
    return f"haoshangliang/{stream}"


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_DIR / KEY_FILE


def load_or_create_signer(data_dir: Path, name: str) -> SignerKey:
    """The data directory's signer key, made now if there is none yet.

    A key under another name is refused: checkpoints of one log keep one key name.
    """
    path = key_path(data_dir)
    if not path.exists():
        _create(path, SignerKey.generate(name))
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        msg = f"cannot read the signing key file {path}: {type(e).__name__}"
        raise KeyFileError(msg) from None
    try:
        signer = SignerKey.parse(text)
    except KeyFormatError as e:
        msg = f"the signing key file {path} is not a signer key: {e}"
        raise KeyFileError(msg) from None
    SECRETS.remember(text, text.rsplit("+", 1)[-1])  # no log line or message shows it
    if signer.name != name:
        msg = f"the signing key in {path} is named {signer.name!r}, not {name!r}"
        raise KeyFileError(msg)
    return signer


def _create(path: Path, signer: SignerKey) -> None:
    """Write the key to a private temporary file, then link it into place.

    ``link`` fails if the name exists, so of two processes racing, one key wins whole and the
    other process reads it; nobody ever reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{signer}\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    except OSError as e:
        msg = f"cannot create the signing key file {path}: {e.strerror}"
        raise KeyFileError(msg) from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
