"""The AsyncAPI 3 document of the public feed, generated from the integration event's Struct.

``python -m service.feed.asyncapi --write docs/asyncapi.yaml`` regenerates docs/asyncapi.yaml;
``--check`` exits 1 when the file is not what this module generates (a test runs the same
comparison). The message schema comes from :func:`msgspec.json.schema_components`, so the
document cannot drift from :class:`~service.feed.integration.OutcomeStatusChanged`.

The YAML is written by a small emitter here (block mappings and sequences, every string
double-quoted in JSON's escape syntax, which YAML shares), so no YAML library is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from events.catalogue import clean_descriptions
from service.feed.integration import (
    ALL_SUBJECTS,
    SCHEMA_VERSION,
    STATUSES,
    SUBJECT_PREFIX,
    OutcomeStatusChanged,
)
from service.feed.stream import SOURCE_SEQUENCE, SOURCE_STREAM
from service.feed.transitions import OVERDUE_SOURCE

DOCUMENT_PATH: Final = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
REF_TEMPLATE: Final = "#/components/schemas/{name}"

_DESCRIPTION: Final = f"""\
Status changes of consultation outcomes (协商成果), for downstream subscribers: a county \
dashboard, a notification service, the 掌上履职 app.

Every change is derived from the immutable event log exactly once and kept in the immutable \
JetStream stream `hsl-public` (subjects `{ALL_SUBJECTS}`). Each downstream system reads it as \
its own NATS user, through its own durable consumers and inbox (the operator makes the user; \
docs/operations.md). Read it with a durable consumer (`hsl subscribe SUBJECT --as NAME` is a \
working example): acknowledge each message after handling it, and a restart resumes after \
the last one acknowledged. Messages of one outcome arrive in order and chain: each one's \
`previous_status` is the status of the one before.

`overdue` is reported once per deadline, when the clock passes the end of the deadline day \
(24:00 China Standard Time) while the implementation is unfinished; its `source_type` is \
`{OVERDUE_SOURCE}`. See docs/feed.md."""


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document, as plain data."""
    (payload,), schemas = msgspec.json.schema_components(
        [OutcomeStatusChanged], ref_template=REF_TEMPLATE
    )
    schemas = clean_descriptions(schemas)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "haoshangliang public outcome feed",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": _DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "the embedded default (`hsl serve` without NATS_URL); "
                "otherwise the server NATS_URL names",
            }
        },
        "channels": {
            "outcomeStatus": {
                "address": f"{SUBJECT_PREFIX}.{{status}}.{{roomId}}",
                "title": "Outcome status changes",
                "description": "One message per status change of an outcome. Filter with "
                "NATS wildcards: `hsl.public.outcome.adopted.*` (every adoption), "
                "`hsl.public.outcome.*.<room>` (one room), `hsl.public.outcome.>` (all).",
                "parameters": {
                    "status": {
                        "description": "the outcome's new status (`drafted`: it was created)",
                        "enum": list(STATUSES),
                    },
                    "roomId": {
                        "description": "the consultation room's id, a lower-case UUID",
                        "examples": ["6f1c2a7e-0d5b-4a8e-9a43-2b9f0c7d1e55"],
                    },
                },
                "messages": {
                    "outcomeStatusChanged": {"$ref": "#/components/messages/OutcomeStatusChanged"}
                },
            }
        },
        "operations": {
            "publishOutcomeStatus": {
                "action": "send",
                "title": "The feed publishes each change once",
                "description": "`hsl feed` (or `hsl serve`) follows the log and sends each "
                "change to the public stream exactly once.",
                "channel": {"$ref": "#/channels/outcomeStatus"},
                "messages": [{"$ref": "#/channels/outcomeStatus/messages/outcomeStatusChanged"}],
            }
        },
        "components": {
            "messages": {
                "OutcomeStatusChanged": {
                    "name": "OutcomeStatusChanged",
                    "title": "An outcome was created or changed status",
                    "contentType": "application/json",
                    "headers": {
                        "type": "object",
                        "properties": {
                            "Nats-Msg-Id": {
                                "type": "string",
                                "description": "the source sequence (`<seq>`); an overdue report "
                                "`<seq>.overdue.<outcome_id>`",
                            },
                            SOURCE_SEQUENCE: {
                                "type": "string",
                                "description": "the log position this message was derived from",
                            },
                            SOURCE_STREAM: {
                                "type": "string",
                                "description": "the event log's stream name (`hsl`)",
                            },
                        },
                    },
                    "payload": payload,
                }
            },
            "schemas": schemas,
        },
    }


# --- a small YAML emitter -------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.-]*$")
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _key(key: str) -> str:
    plain = _PLAIN_KEY.match(key) and key.lower() not in _RESERVED
    return key if plain else json.dumps(key, ensure_ascii=False)


def _scalar(value: Any) -> str:
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    return json.dumps(value, ensure_ascii=False)


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_block(item):
                out.append(f"{pad}{_key(key)}:")
                out += _lines(item, indent + 2)
            else:
                out.append(f"{pad}{_key(key)}: {_scalar(item)}")
    else:
        for item in value:
            if _is_block(item):
                nested = _lines(item, indent + 2)
                out.append(f"{pad}- {nested[0].lstrip()}")
                out += nested[1:]
            else:
                out.append(f"{pad}- {_scalar(item)}")
    return out


def render() -> str:
    """docs/asyncapi.yaml's text."""
    header = [
        "# Generated by `python -m service.feed.asyncapi --write docs/asyncapi.yaml`; "
        "do not edit by hand.",
    ]
    return "\n".join([*header, *_lines(document(), 0)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, metavar="FILE", help="write the document to FILE")
    action.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE is not current")
    args = parser.parse_args(argv)
    text = render()
    if args.write is not None:
        args.write.write_text(text, encoding="utf-8")
        return 0
    current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
    if current != text:
        print(f"{args.check} is not current: run --write {args.check}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
