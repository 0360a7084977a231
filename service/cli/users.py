"""``hsl users add|list|revoke``: who may call the API."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Final

import msgspec

from service.auth.users import USER_ROLES, Grant, Scope, UserStore, UserStoreError
from service.cli.registry import Subcommand, SubcommandError
from service.settings import Settings

GROUPS: Final = {
    "users": "people who may call the HTTP API: add (prints a token once), list, revoke"
}


def _store(settings: Settings) -> UserStore:
    return UserStore.in_data_dir(settings.data_dir)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="the person's id, recorded as the actor of their events")
    parser.add_argument("--name", required=True, help="the person's name")
    parser.add_argument(
        "--role",
        action="append",
        required=True,
        choices=USER_ROLES,
        metavar="ROLE",
        help=f"a role (repeat for several): {', '.join(USER_ROLES)}",
    )
    parser.add_argument("--room", metavar="ROOM_ID", help="scope: this room only")
    parser.add_argument("--county", help="scope: this county (and below)")
    parser.add_argument("--town", help="scope: this town (needs --county)")
    parser.add_argument("--locality", help="scope: this village/community/enterprise")


def users_add(args: argparse.Namespace, settings: Settings) -> int:
    """The token is shown here only; the store keeps its SHA-256."""
    if args.room and (args.county or args.town or args.locality):
        raise SubcommandError("give --room or a region (--county/--town/--locality), not both")
    if (args.town and not args.county) or (args.locality and not args.town):
        raise SubcommandError("--town needs --county, --locality needs --town")
    if args.room is not None:
        try:
            args.room = str(uuid.UUID(args.room))
        except ValueError:
            raise SubcommandError(f"--room {args.room!r} is not a room id (a UUID)") from None
    scope = Scope(room_id=args.room, county=args.county, town=args.town, locality=args.locality)
    grants = [Grant(role=role, scope=scope) for role in dict.fromkeys(args.role)]
    try:
        user, token = _store(settings).add(args.id, args.name, grants)
    except UserStoreError as e:
        raise SubcommandError(str(e)) from e
    print(f"added {user.id} ({user.name}): {', '.join(user.roles)} in {scope.describe()}")
    print("token (shown once; give it to the person, send it as 'Authorization: Bearer …'):")
    print(token)
    return 0


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON array (no token hashes)")


def users_list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        users = _store(settings).users()
    except UserStoreError as e:
        raise SubcommandError(str(e)) from e
    if args.json:
        rows = [
            {k: v for k, v in msgspec.to_builtins(u).items() if k != "token_sha256"} for u in users
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not users:
        print(f"no users in {_store(settings).path}")
    for u in users:
        state = "active" if u.active else f"revoked {u.revoked_at:%Y-%m-%d %H:%M}"
        grants = ", ".join(f"{g.role}@{g.scope.describe()}" for g in u.grants)
        print(f"{u.id}\t{u.name}\t{grants}\t{state}")
    return 0


def _revoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="the person's id")


def users_revoke(args: argparse.Namespace, settings: Settings) -> int:
    try:
        user = _store(settings).revoke(args.id)
    except UserStoreError as e:
        raise SubcommandError(str(e)) from e
    print(f"revoked {user.id} ({user.name}); a running server refuses the token from now on")
    return 0


COMMANDS: Final = (
    Subcommand(
        ("users", "add"),
        help="add a person and print their bearer token once",
        handler=users_add,
        arguments=_add_arguments,
    ),
    Subcommand(
        ("users", "list"),
        help="list people, their roles and scopes",
        handler=users_list,
        arguments=_list_arguments,
    ),
    Subcommand(
        ("users", "revoke"),
        help="revoke a person's token at once",
        handler=users_revoke,
        arguments=_revoke_arguments,
    ),
)
