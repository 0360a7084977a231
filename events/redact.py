"""Keeping secrets out of what the code shows: URLs, log lines, error messages.

NATS URLs may carry credentials (``nats://service:PASSWORD@host``, ``nats://TOKEN@host``),
and a caller's bearer token travels in a header. Two tools, one per need:

- :func:`redact_url` for a URL (or a comma-separated server list) that is about to be printed
  or logged: its credentials become ``***``;
- :data:`SECRETS`, the secrets this process knows (NATS passwords, bearer tokens it accepted,
  the signing key), and :func:`redact_text`, which removes them from any text, together with
  anything shaped like a credential: ``scheme://user:pass@``, ``Bearer <token>``, a ``hsl_``
  token. The log renderer runs every line through it (``service.logging``), as do the CLI's
  error line and the HTTP problems: the last line of defence when a library's message embeds
  a URL.

Here in ``events`` (the lowest layer), so that every package may use it.
"""

from __future__ import annotations

import re
import threading
from typing import Final
from urllib.parse import urlsplit

MASK: Final = "***"
MIN_SECRET_LENGTH: Final = 8
"""Shorter values are not remembered: scrubbing them would mangle ordinary text."""

_CREDENTIALS = re.compile(r"://([^:/@,\s'\"<>]+)(:[^@,\s'\"<>]*)?@")
"""``://user:password@`` or ``://token@`` in a URL."""
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/-]+=*")
"""``Bearer <token>`` with RFC 6750's token characters (so ``Bearer …`` in help text stays)."""
_TOKEN = re.compile(r"\bhsl_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
"""The shape of an API token (``service.auth.users.new_token``: 32 bytes, URL-safe base64);
exactly that length, so names such as ``hsl_auth_failures_total`` stay."""


def _hide_credentials(match: re.Match[str]) -> str:
    return f"://{match.group(1)}:{MASK}@" if match.group(2) else f"://{MASK}@"


def redact_url(url: str) -> str:
    """``url`` (one or comma-separated) with passwords and tokens replaced by ``***``.

    ``NATS_URL`` may carry credentials (``nats://user:password@host``); messages and output
    show this form instead.
    """
    return _CREDENTIALS.sub(_hide_credentials, url)


def url_secrets(url: str) -> list[str]:
    """The passwords and tokens in ``url`` (one or comma-separated), to remember."""
    found = []
    for part in (p.strip() for p in url.split(",") if p.strip()):
        userinfo = urlsplit(part if "://" in part else f"nats://{part}").netloc.rpartition("@")[0]
        if userinfo:
            user, colon, password = userinfo.partition(":")
            found.append(password if colon else user)
    return found


class Secrets:
    """Secret values this process holds, so that no text it shows carries them (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def remember(self, *values: str | None) -> None:
        """Add ``values`` (empty and short ones are ignored)."""
        new = {v for v in values if v is not None and len(v) >= MIN_SECRET_LENGTH}
        with self._lock:
            if new <= self._values:
                return
            self._values |= new
            longest_first = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, longest_first)))

    def remember_url(self, url: str | None) -> None:
        """Add the credentials of ``url`` (one or comma-separated)."""
        if url:
            self.remember(*url_secrets(url))

    def scrub(self, text: str) -> str:
        """``text`` without any remembered value nor anything shaped like a credential."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _CREDENTIALS.sub(_hide_credentials, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        return _TOKEN.sub(f"hsl_{MASK}", text)


SECRETS = Secrets()
"""The process's known secrets (one set per process, like its metrics)."""


def redact_text(text: str) -> str:
    """``text`` scrubbed of :data:`SECRETS` and of credential-shaped strings."""
    return SECRETS.scrub(text)
