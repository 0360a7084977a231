"""``hsl audit``: the signing key, checkpoints, export bundles and their verification.

- ``hsl audit key`` prints the verifier key auditors use (the signer is made on first use).
- ``hsl audit checkpoint [--every N] [--interval S] [--once]`` runs the checkpointer.
- ``hsl audit export [--from A --to B | --outcome ID] [-o DIR]`` writes a bundle.
- ``hsl audit verify BUNDLE --key KEY`` checks a bundle offline (no NATS, no DuckDB);
  ``hsl audit verify --live --key KEY`` checks the running log and its checkpoints.
Verification exits 0 when everything holds, 1 naming the first fault (kind, sequence).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from events.jetstream.commits import JetStreamRecorder
from events.jetstream.connection import LONG_RUNNING, ONE_SHOT, connect
from replay.bundle import BundleError, Selection, export_bundle
from replay.bundle_format import CheckpointRecord
from replay.bundle_verifier import Report, verify_bundle
from replay.checkpointer import (
    DEFAULT_EVERY,
    DEFAULT_INTERVAL,
    Checkpointer,
    CheckpointerError,
    read_checkpoints,
)
from replay.history import HistoryError
from replay.keys import origin_for
from replay.leaf import leaf_bytes
from replay.log_verifier import LiveReport, verify_log
from replay.signed_note import KeyFormatError, SignerKey, VerifierKey
from replay.verification import VerificationError
from service.cli.log_access import (
    answering_server,
    checkpoint_signer,
    event_stream,
    opened_application,
)
from service.cli.registry import Subcommand, SubcommandError
from service.nats.embedded import ServerHandle
from service.settings import Settings

GROUPS: Final = {"audit": "integrity: the signing key, checkpoints, export bundles, verification"}


# --- hsl audit key ----------------------------------------------------------------------------


def audit_key(args: argparse.Namespace, settings: Settings) -> int:
    print(checkpoint_signer(settings).verifier)
    return 0


# --- hsl audit checkpoint ---------------------------------------------------------------------


def _checkpoint_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--every", type=int, default=DEFAULT_EVERY, help=f"events (default {DEFAULT_EVERY})"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL,
        help=f"seconds (default {DEFAULT_INTERVAL:g})",
    )
    parser.add_argument(
        "--once", action="store_true", help="checkpoint the log's end once, then exit"
    )


def audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    if args.every < 1 or args.interval < 0:
        raise SubcommandError("--every must be 1 or more and --interval 0 or more")
    signer = checkpoint_signer(settings)
    handle = answering_server(settings)
    cadence = (args.every, args.interval)
    replicas = settings.jetstream_replicas
    try:
        size = asyncio.run(_run_checkpointer(handle, signer, cadence, args.once, replicas))
    except CheckpointerError as e:
        raise SubcommandError(str(e)) from e
    print(f"checkpointed {event_stream()} up to event {size}")
    return 0


async def _run_checkpointer(
    handle: ServerHandle, signer: SignerKey, cadence: tuple[int, float], once: bool, replicas: int
) -> int:
    # Until stopped, it reconnects for as long as it takes (``events.jetstream.connection``).
    policy = ONE_SHOT if once else LONG_RUNNING
    nc = await connect(
        handle.url, name="hsl-checkpointer", policy=policy, server_file=handle.state_file
    )
    every, interval = cadence
    try:
        checkpointer = Checkpointer(
            nc, event_stream(), signer, every=every, interval=interval, replicas=replicas
        )
        if once:
            await checkpointer.resume()
            await checkpointer.step()
            await checkpointer.checkpoint_now()
            return checkpointer.last_size
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await checkpointer.run(stop)
        return checkpointer.last_size
    finally:
        await nc.close()


# --- hsl audit export -------------------------------------------------------------------------


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", type=int, metavar="SEQ", help="first event")
    parser.add_argument("--to", dest="last", type=int, metavar="SEQ", help="last event")
    parser.add_argument("--outcome", metavar="ID", help="one outcome's history")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="DIR", help="the bundle directory (must be new)"
    )


def audit_export(args: argparse.Namespace, settings: Settings) -> int:
    selection = _selection(args)
    signer = checkpoint_signer(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target: Path = args.output or Path(f"hsl-audit-{event_stream()}-{selection.scope}-{stamp}")
    with opened_application(settings) as opened:
        try:
            recorder = opened.app.recorder
            assert isinstance(recorder, JetStreamRecorder)
            manifest = export_bundle(
                recorder,
                opened.url,
                signer,
                target,
                selection,
                replicas=settings.jetstream_replicas,
            )
        except (BundleError, HistoryError, CheckpointerError, PersistenceError, OSError) as e:
            raise SubcommandError(f"export failed, nothing written: {e}") from e
    print(
        f"wrote {target}: {manifest.events} events ({manifest.scope_detail}), "
        f"{manifest.checkpoints} checkpoints, tree size {manifest.tree_size}"
    )
    print(f"verify with: hsl audit verify {target} --key {signer.verifier}")
    return 0


def _selection(args: argparse.Namespace) -> Selection:
    ranged = args.first is not None or args.last is not None
    if args.outcome is not None:
        if ranged:
            raise SubcommandError("give --outcome or --from/--to, not both")
        try:
            return Selection("outcome", outcome_id=UUID(args.outcome))
        except ValueError:
            raise SubcommandError(f"outcome id {args.outcome!r} is not a UUID") from None
    if ranged:
        first = args.first if args.first is not None else 1
        if first < 1 or (args.last is not None and args.last < first):
            raise SubcommandError(f"--from {first} --to {args.last}: not a range of sequences")
        return Selection("range", first=first, last=args.last)
    return Selection("all")


# --- hsl audit verify -------------------------------------------------------------------------


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", nargs="?", type=Path, help="the bundle directory")
    parser.add_argument(
        "--key",
        required=True,
        help="the verifier key (name+id+base64, as `hsl audit key` prints) or a file holding it",
    )
    parser.add_argument("--live", action="store_true", help="verify the running log instead")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    key = _verifier_key(args.key)
    if args.live == (args.bundle is not None):
        raise SubcommandError("give a BUNDLE directory, or --live for the running log")
    try:
        report: Report | LiveReport = (
            _verify_live(settings, key) if args.live else verify_bundle(args.bundle, key)
        )
    except VerificationError as e:
        print(f"FAILED {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    return 0


def _verifier_key(text: str) -> VerifierKey:
    candidate = Path(text)
    if "+" not in text and candidate.is_file():
        text = candidate.read_text(encoding="utf-8").strip()
    try:
        return VerifierKey.parse(text.strip())
    except KeyFormatError as e:
        raise SubcommandError(f"--key: {e}") from e


def _verify_live(settings: Settings, key: VerifierKey) -> LiveReport:
    with opened_application(settings) as opened:
        recorder = opened.app.recorder
        assert isinstance(recorder, JetStreamRecorder)
        stream = recorder.layout.stream
        records = asyncio.run(_checkpoint_records(opened.url, stream))
        lines = _log_lines(recorder)
        return verify_log(lines, records, key, origin_for(stream))


async def _checkpoint_records(url: str, stream: str) -> list[CheckpointRecord]:
    nc = await connect(url, name="hsl-audit-verify", policy=ONE_SHOT)
    try:
        return [CheckpointRecord(s.seq, s.note) for s in await read_checkpoints(nc, stream)]
    finally:
        await nc.close()


def _log_lines(recorder: JetStreamRecorder) -> list[bytes]:
    return [leaf_bytes(m) for page in recorder.stored_pages() for m in page]


def _print_report(report: Report | LiveReport) -> None:
    fields = asdict(report)
    late = fields.pop("late_entries")
    flagged = fields.pop("quarantined")
    fields["quarantined"] = len(flagged)
    print("OK " + ", ".join(f"{k}={v}" for k, v in fields.items()))
    for one in flagged:
        # Hashed as stored and covered by the signed roots; only not read as an event.
        print(f"{one['place']} {one['seq']}: {one['kind']} (not read; {one['reason']})")
    if late:
        shown = ", ".join(str(s) for s in late[:20]) + (" …" if len(late) > 20 else "")
        print(f"{len(late)} events recorded more than 7 days after they occurred: {shown}")


COMMANDS: Final = (
    Subcommand(
        ("audit", "key"),
        help="print the verifier key of the log's checkpoints (made if new)",
        handler=audit_key,
    ),
    Subcommand(
        ("audit", "checkpoint"),
        help="sign the log's Merkle root every N events or S seconds until SIGINT/SIGTERM",
        handler=audit_checkpoint,
        arguments=_checkpoint_arguments,
    ),
    Subcommand(
        ("audit", "export"),
        help="write a bundle (all, a sequence range or one outcome's history) to verify offline",
        handler=audit_export,
        arguments=_export_arguments,
    ),
    Subcommand(
        ("audit", "verify"),
        help="check a bundle offline (or --live, the running log): "
        "signatures, proofs, order, times",
        handler=audit_verify,
        arguments=_verify_arguments,
        nats_user="auditor",
    ),
)
