"""People who may call the API: their roles, scopes and hashed bearer tokens.

The store is one small JSON file, ``$HSL_DATA_DIR/users.json`` (mode 0600), written whole
through a temporary file and ``os.replace``, so a reader never sees half of it. JSON rather
than SQLite: a county has tens to hundreds of accounts, an operator can read the file, and a
running ``hsl serve`` notices changes (``hsl users revoke`` in another process) by its
modification time without any locking protocol beyond the atomic rename.

A token is ``hsl_`` + 32 random bytes (URL-safe base64); only its SHA-256 is stored (a
random 256-bit secret needs no slow hash: no guess can be tested offline faster than SHA-256
allows, and 2^256 guesses are out of reach). A request costs one SHA-256 of the presented
token, one ``stat`` of the file and one dictionary lookup of the digest: the dictionary is
rebuilt only when the file changes, so a revocation takes effect at the next request. Looking
the digest up in a hash table leaks nothing useful in its timing: the caller chooses the token,
not its digest, so timing cannot walk towards a stored digest byte by byte; the match found is
still confirmed with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, get_args

import msgspec
from msgspec import Meta

from events.common import PersonId, Role
from service.domain.errors import ValidationError
from service.domain.text import check_texts

UserRole = Literal[Role, "auditor"]
"""The roles a person can hold: every event ``Role`` plus ``auditor`` (纪检监察),
who reads and writes nothing, so never appears as an event's actor."""

USER_ROLES: tuple[str, ...] = get_args(UserRole)
EVENT_ROLES: frozenset[str] = frozenset(get_args(Role))

USERS_FILE = "users.json"
TOKEN_PREFIX = "hsl_"


class UserStoreError(RuntimeError):
    """The store cannot be read or the change asked for is not possible (one line)."""


class Scope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a grant applies: one room, a region (county → town → locality), or everywhere.

    Empty: everywhere. ``room_id``: that room only. Otherwise every component given must
    equal the room's region (a prefix: a town scope covers the town's room and the rooms
    below it), except for ``party_org``, whose region must be the room's exactly: a town
    party committee acts on its own town room, a village party organisation on its village's.
    """

    room_id: str | None = None
    county: str | None = None
    town: str | None = None
    locality: str | None = None

    @property
    def everywhere(self) -> bool:
        return self.room_id is None and self.county is None

    def describe(self) -> str:
        if self.room_id is not None:
            return f"room {self.room_id}"
        parts = [p for p in (self.county, self.town, self.locality) if p]
        return " / ".join(parts) if parts else "everywhere"


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """One role a person holds, and where."""

    role: UserRole
    scope: Scope = Scope()


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A person who may call the API."""

    id: PersonId
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    grants: list[Grant]
    token_sha256: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def roles(self) -> list[str]:
        return [g.role for g in self.grants]


class _File(msgspec.Struct, kw_only=True):
    users: list[User] = msgspec.field(default_factory=list)


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random bearer token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class UserStore:
    """The users file; reloads when another process changed it. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: list[User] = []
        self._by_digest: dict[str, User] = {}
        """Active users by their token's digest, rebuilt with ``_users``."""

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> UserStore:
        return cls(data_dir / USERS_FILE)

    # --- reading --------------------------------------------------------------------------

    def _current(self) -> list[User]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._users, self._by_digest = None, [], {}
            return self._users
        # Every write replaces the file by a new one (a new inode): a change is seen even
        # within the file system's timestamp granularity.
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = msgspec.json.decode(self.path.read_bytes(), type=_File)
            except (OSError, msgspec.DecodeError) as e:
                raise UserStoreError(f"cannot read the users file {self.path}: {e}") from e
            self._stamp, self._users = stamp, data.users
            self._by_digest = _index(data.users)
        return self._users

    def users(self) -> list[User]:
        """Every user, active or revoked, in the order added."""
        with self._lock:
            return list(self._current())

    def get(self, user_id: str) -> User | None:
        return next((u for u in self.users() if u.id == user_id), None)

    def authenticate(self, token: str) -> User | None:
        """The active user holding ``token`` now, or None (the file is checked every call)."""
        presented = digest(token)
        with self._lock:
            self._current()
            user = self._by_digest.get(presented)
        if user is None or not hmac.compare_digest(presented, user.token_sha256):
            return None
        return user

    # --- changing -------------------------------------------------------------------------

    def add(self, user_id: str, name: str, grants: list[Grant]) -> tuple[User, str]:
        """Add a person (or replace a revoked one); returns the user and the token, once."""
        if not grants:
            raise UserStoreError("give at least one --role")
        token = new_token()
        try:
            user = msgspec.convert(
                {
                    "id": user_id,
                    "name": name,
                    "grants": msgspec.to_builtins(grants),
                    "token_sha256": digest(token),
                    "created_at": datetime.now(UTC).isoformat(),
                },
                User,
            )
        except msgspec.ValidationError as e:
            raise UserStoreError(f"invalid user: {e}") from e
        try:
            check_texts(user, User)  # ids, names and places as in a command's body
        except ValidationError as e:
            raise UserStoreError(f"invalid user: {e.message_en}") from e
        with self._lock:
            users = self._current()
            existing = next((u for u in users if u.id == user_id), None)
            if existing is not None and existing.active:
                raise UserStoreError(f"user {user_id!r} exists; revoke them first to re-issue")
            self._write([u for u in users if u.id != user_id] + [user])
        return user, token

    def revoke(self, user_id: str) -> User:
        """Revoke a person's token: it stops working at the next request."""
        with self._lock:
            users = self._current()
            existing = next((u for u in users if u.id == user_id), None)
            if existing is None:
                raise UserStoreError(f"no user {user_id!r}")
            if not existing.active:
                return existing
            revoked = msgspec.structs.replace(existing, revoked_at=datetime.now(UTC))
            self._write([revoked if u.id == user_id else u for u in users])
        return revoked

    def _write(self, users: list[User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = msgspec.json.format(msgspec.json.encode(_File(users=users)), indent=2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data + b"\n")
        os.replace(tmp, self.path)
        self._stamp = None
        self._users = users
        self._by_digest = _index(users)


def _index(users: list[User]) -> dict[str, User]:
    """Active users by token digest (a digest is unique: each token is 32 random bytes)."""
    return {u.token_sha256: u for u in users if u.active}
