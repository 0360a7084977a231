"""Export bundles verified offline, and every kind of tampering caught with its sequence.

The log is real (a nats-server with a temporary store); the bundle is written by
``hsl audit export`` and checked by ``hsl audit verify`` and ``replay.bundle_verifier`` directly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from replay.bundle_format import CHECKPOINTS, EVENTS, MANIFEST, CheckpointRecord
from replay.bundle_verifier import verify_bundle
from replay.checkpoint import Checkpoint, sign_checkpoint
from replay.keys import load_or_create_signer, origin_for
from replay.signed_note import SignerKey, VerifierKey
from replay.verification import VerificationError
from service.cli.main import main
from tests.support.chain import Chain
from tests.support.jetstream_scenario import JetStreamScenario


@dataclass
class Exported:
    bundle: Path
    key: VerifierKey
    signer: SignerKey
    chain: Chain
    data_dir: Path


@pytest.fixture
def exported(
    nats_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Exported]:
    s = JetStreamScenario(nats_url, wall_clock=True)
    try:
        chain = Chain(s)
        s.verified()  # a second outcome, so the log holds more than one history
        monkeypatch.setenv("NATS_URL", nats_url)
        monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path / "data"))
        assert main(["audit", "key"]) == 0
        key = VerifierKey.parse(capsys.readouterr().out.strip())
        bundle = tmp_path / "bundle"
        assert main(["audit", "export", "-o", str(bundle)]) == 0
        capsys.readouterr()
        signer = load_or_create_signer(tmp_path / "data", key.name)
        yield Exported(bundle, key, signer, chain, tmp_path / "data")
    finally:
        s.app.close()


def _events(bundle: Path) -> list[bytes]:
    return (bundle / EVENTS).read_bytes().splitlines(keepends=True)


def _write_events(bundle: Path, lines: list[bytes]) -> None:
    (bundle / EVENTS).write_bytes(b"".join(lines))


def _flip_a_bit(line: bytes) -> bytes:
    """One bit of the aggregate id in the subject changed: the line stays valid JSON."""
    at = line.index(b"hsl.events.") + len(b"hsl.events.")
    changed = bytearray(line)
    changed[at] ^= 0x01
    return bytes(changed)


def _tampered(e: Exported, tmp_path: Path, change: Callable[[Path], None]) -> VerificationError:
    copy = tmp_path / "tampered"
    shutil.copytree(e.bundle, copy)
    change(copy)
    with pytest.raises(VerificationError) as info:
        verify_bundle(copy, e.key)
    return info.value


def test_an_untouched_bundle_verifies(
    exported: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    report = verify_bundle(exported.bundle, exported.key)
    lines = _events(exported.bundle)
    assert report.events == report.tree_size == len(lines)
    assert report.first_seq == 1
    assert main(["audit", "verify", str(exported.bundle), "--key", str(exported.key)]) == 0
    assert capsys.readouterr().out.startswith("OK ")


def test_a_flipped_byte_in_one_event(exported: Exported, tmp_path: Path) -> None:
    def flip(bundle: Path) -> None:
        lines = _events(bundle)
        lines[4] = _flip_a_bit(lines[4])
        _write_events(bundle, lines)

    fault = _tampered(exported, tmp_path, flip)
    assert (fault.kind, fault.seq) == ("altered", 5)


def test_a_byte_that_breaks_the_json(exported: Exported, tmp_path: Path) -> None:
    """A payload that is not JSON may have been stored so (a quarantined message): only the
    signed roots tell, and they name the event as altered."""

    def flip(bundle: Path) -> None:
        lines = _events(bundle)
        lines[9] = lines[9][:-3] + b"]" + lines[9][-2:]
        _write_events(bundle, lines)

    fault = _tampered(exported, tmp_path, flip)
    assert (fault.kind, fault.seq) == ("altered", 10)


def test_an_event_deleted(exported: Exported, tmp_path: Path) -> None:
    def delete(bundle: Path) -> None:
        lines = _events(bundle)
        del lines[6]
        _write_events(bundle, lines)

    fault = _tampered(exported, tmp_path, delete)
    assert (fault.kind, fault.seq) == ("missing", 7)


def test_two_events_swapped(exported: Exported, tmp_path: Path) -> None:
    def swap(bundle: Path) -> None:
        lines = _events(bundle)
        lines[6], lines[7] = lines[7], lines[6]
        _write_events(bundle, lines)

    fault = _tampered(exported, tmp_path, swap)
    assert (fault.kind, fault.seq) == ("order", 7)


def test_the_tail_truncated_and_other_events_appended(exported: Exported, tmp_path: Path) -> None:
    def rewrite_tail(bundle: Path) -> None:
        lines = _events(bundle)
        tail = [line.replace(b'"effective":true', b'"effective":false') for line in lines[-3:]]
        assert tail != lines[-3:]
        _write_events(bundle, lines[:-3] + tail)

    fault = _tampered(exported, tmp_path, rewrite_tail)
    assert fault.kind == "altered"
    first_changed = next(
        i + 1
        for i, (a, b) in enumerate(
            zip(_events(exported.bundle), _events(tmp_path / "tampered"), strict=True)
        )
        if a != b
    )
    assert fault.seq == first_changed


def test_events_appended_beyond_the_last_checkpoint(exported: Exported, tmp_path: Path) -> None:
    def append(bundle: Path) -> None:
        lines = _events(bundle)
        n = len(lines)
        extra = lines[-1].replace(f'{{"seq":{n},'.encode(), f'{{"seq":{n + 1},'.encode(), 1)
        _write_events(bundle, [*lines, extra])

    fault = _tampered(exported, tmp_path, append)
    assert (fault.kind, fault.seq) == ("uncovered", len(_events(exported.bundle)) + 1)


def _shift(text: str, delta: timedelta) -> str:
    """An RFC 3339 time of the log moved by ``delta``, written the way the log writes it."""
    moved = datetime.fromisoformat(text) + delta
    return moved.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _retimed(bundle: Path, index: int, recorded: timedelta, stored: timedelta) -> None:
    """Line ``index``'s recorded_at and stored_at moved by the given amounts."""
    lines = _events(bundle)
    leaf = json.loads(lines[index])
    recorded_at, stored_at = leaf["event"]["recorded_at"], leaf["stored_at"]
    line = lines[index].replace(recorded_at.encode(), _shift(recorded_at, recorded).encode())
    lines[index] = line.replace(stored_at.encode(), _shift(stored_at, stored).encode())
    _write_events(bundle, lines)


def test_an_event_back_dated(exported: Exported, tmp_path: Path) -> None:
    """recorded_at moved a day earlier: named ``backdated`` with its sequence, before the
    changed bytes are found not to match the signed root."""
    back = partial(_retimed, index=11, recorded=-timedelta(days=1), stored=timedelta(0))
    fault = _tampered(exported, tmp_path, back)
    assert (fault.kind, fault.seq) == ("backdated", 12)
    assert "1 day" in str(fault)


def test_an_event_post_dated(exported: Exported, tmp_path: Path) -> None:
    ahead = partial(_retimed, index=11, recorded=timedelta(days=1), stored=timedelta(0))
    fault = _tampered(exported, tmp_path, ahead)
    assert (fault.kind, fault.seq) == ("postdated", 12)


def test_stored_times_that_go_back(exported: Exported, tmp_path: Path) -> None:
    """Both times of an event moved a day back: they agree, but the server's clock went back."""
    day = -timedelta(days=1)
    fault = _tampered(exported, tmp_path, partial(_retimed, index=11, recorded=day, stored=day))
    assert (fault.kind, fault.seq) == ("rewound", 12)


def test_times_within_the_tolerance_are_only_caught_by_the_hash(
    exported: Exported, tmp_path: Path
) -> None:
    """A few seconds earlier passes the time check (a clock step is honest), but any change
    of the signed bytes is still ``altered``."""
    few = partial(_retimed, index=11, recorded=-timedelta(seconds=3), stored=timedelta(0))
    fault = _tampered(exported, tmp_path, few)
    assert (fault.kind, fault.seq) == ("altered", 12)


def test_two_checkpoints_for_one_size_are_a_fork(exported: Exported, tmp_path: Path) -> None:
    def fork(bundle: Path) -> None:
        records = [json.loads(x) for x in (bundle / CHECKPOINTS).read_text().splitlines()]
        last = Checkpoint.parse(records[-1]["note"].split("\n\n")[0] + "\n")
        other = Checkpoint(last.origin, last.size, bytes(32))
        note = sign_checkpoint(other, exported.signer)
        with (bundle / CHECKPOINTS).open("a") as f:
            f.write(json.dumps({"seq": records[-1]["seq"] + 1, "note": note}) + "\n")

    fault = _tampered(exported, tmp_path, fork)
    assert fault.kind == "fork"
    assert fault.seq == len(_events(exported.bundle))  # the tree size both claim


def test_a_checkpoint_signed_by_another_key(exported: Exported, tmp_path: Path) -> None:
    stranger = SignerKey.generate(exported.key.name)

    def resign(bundle: Path) -> None:
        lines = (bundle / CHECKPOINTS).read_text().splitlines()
        record = CheckpointRecord(**json.loads(lines[0]))
        text = record.note.split("\n\n")[0] + "\n"
        lines[0] = json.dumps(
            {"seq": record.seq, "note": sign_checkpoint(Checkpoint.parse(text), stranger)}
        )
        (bundle / CHECKPOINTS).write_text("\n".join(lines) + "\n")

    fault = _tampered(exported, tmp_path, resign)
    assert fault.kind == "signature"
    assert "checkpoints.jsonl line 1" in str(fault)


def test_a_manifest_count_changed(exported: Exported, tmp_path: Path) -> None:
    def recount(bundle: Path) -> None:
        manifest = json.loads((bundle / MANIFEST).read_text())
        manifest["events"] += 1
        (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    fault = _tampered(exported, tmp_path, recount)
    assert fault.kind == "manifest"
    assert "says events" in str(fault)


def test_the_wrong_key_fails_at_the_first_checkpoint(exported: Exported) -> None:
    other = SignerKey.generate(origin_for("hsl")).verifier
    with pytest.raises(VerificationError) as info:
        verify_bundle(exported.bundle, other)
    assert info.value.kind == "signature"


def test_partial_exports_prove_each_event(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = tmp_path / "outcome"
    ranged = tmp_path / "range"
    assert (
        main(["audit", "export", "--outcome", str(exported.chain.outcome), "-o", str(outcome)]) == 0
    )
    assert main(["audit", "export", "--from", "3", "--to", "9", "-o", str(ranged)]) == 0
    capsys.readouterr()
    history = verify_bundle(outcome, exported.key)
    assert history.scope == "outcome"
    assert history.events == 18  # the chain's timeline (tests/replay/test_history.py)
    assert (
        verify_bundle(ranged, exported.key).first_seq,
        verify_bundle(ranged, exported.key).last_seq,
    ) == (3, 9)

    def flip(bundle: Path) -> None:
        lines = _events(bundle)
        lines[2] = _flip_a_bit(lines[2])
        _write_events(bundle, lines)

    copy = tmp_path / "outcome-tampered"
    shutil.copytree(outcome, copy)
    flip(copy)
    with pytest.raises(VerificationError) as info:
        verify_bundle(copy, exported.key)
    third = json.loads(_events(outcome)[2])["seq"]
    assert (info.value.kind, info.value.seq) == ("altered", third)


def test_verify_exit_codes_and_live(
    exported: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported.bundle, copy)
    lines = _events(copy)
    del lines[2]
    _write_events(copy, lines)
    assert main(["audit", "verify", str(copy), "--key", str(exported.key)]) == 1
    assert "FAILED missing: event 3:" in capsys.readouterr().err
    assert main(["audit", "verify", "--live", "--key", str(exported.key)]) == 0
    assert "not_yet_checkpointed=0" in capsys.readouterr().out
    assert main(["audit", "verify", str(copy), "--key", "nonsense"]) == 1
    assert "--key:" in capsys.readouterr().err
    assert main(["audit", "export", "-o", str(copy)]) == 1
    assert "exists already" in capsys.readouterr().err
