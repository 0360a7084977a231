"""replay.signed_note: the published notes verify, and nothing about them can change unnoticed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from replay.signed_note import (
    KeyFormatError,
    MalformedNoteError,
    NoteError,
    Signature,
    SignatureError,
    SignerKey,
    UnknownKeyError,
    VerifierKey,
    key_id,
    open_note,
    parse_note,
    sign_note,
)

VECTORS = Path(__file__).resolve().parent / "vectors" / "signed-note.txt"

# The signer key of the PeterNeumann example in golang.org/x/mod/sumdb/note's documentation,
# published there so that others can reproduce its signature.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"


def published_notes() -> list[tuple[str, str]]:
    """(verifier key, note) pairs from vectors/signed-note.txt."""
    text = VECTORS.read_text(encoding="utf-8")
    found = re.findall(r"vkey: (\S+)\n-----BEGIN NOTE-----\n(.*?)-----END NOTE-----\n", text, re.S)
    assert len(found) == 2, "signed-note.txt should hold two notes"
    return [(vkey, note) for vkey, note in found]


NOTES = published_notes()
NOTE_IDS = [vkey.split("+")[0] for vkey, _ in NOTES]


@pytest.mark.parametrize(("vkey", "note"), NOTES, ids=NOTE_IDS)
def test_published_notes_verify_with_their_keys(vkey: str, note: str) -> None:
    key = VerifierKey.parse(vkey)
    assert str(key) == vkey
    opened = open_note(note, [key])
    assert opened.verified_by == (key,)
    assert opened.unverified == ()
    assert note.startswith(opened.text)
    assert open_note(note.encode(), [key]).text == opened.text


@pytest.mark.parametrize(("vkey", "note"), NOTES, ids=NOTE_IDS)
def test_every_bit_of_the_note_matters(vkey: str, note: str) -> None:
    """Flip each bit of the whole note, text and signature line alike: each one fails."""
    key = VerifierKey.parse(vkey)
    raw = note.encode()
    for i in range(len(raw)):
        for bit in range(8):
            changed = raw[:i] + bytes([raw[i] ^ (1 << bit)]) + raw[i + 1 :]
            with pytest.raises(NoteError):
                open_note(changed, [key])


@pytest.mark.parametrize(("vkey", "note"), NOTES, ids=NOTE_IDS)
def test_every_bit_of_the_signature_matters(vkey: str, note: str) -> None:
    """Flip each bit of the decoded key id and signature, re-encoded canonically."""
    key = VerifierKey.parse(vkey)
    parsed = parse_note(note)
    (sig,) = parsed.signatures
    blob = sig.key_id.to_bytes(4, "big") + sig.signature
    for i in range(len(blob)):
        for bit in range(8):
            changed = blob[:i] + bytes([blob[i] ^ (1 << bit)]) + blob[i + 1 :]
            line = f"— {sig.name} {base64.b64encode(changed).decode()}\n"
            # A changed key id is someone else's key; a changed signature is a bad signature.
            error = UnknownKeyError if i < 4 else SignatureError
            with pytest.raises(error):
                open_note(parsed.text + "\n" + line, [key])


def test_go_signer_key_reproduces_the_published_note() -> None:
    signer = SignerKey.parse(GO_SIGNER_KEY)
    vkey, note = NOTES[0]
    assert str(signer) == GO_SIGNER_KEY
    assert str(signer.verifier) == vkey
    text = note[: note.rindex("\n\n") + 1]
    assert sign_note(text, signer) == note
    assert "AYEKFALV" not in repr(signer)


def test_key_id_is_the_first_four_bytes_of_the_name_and_key_hash() -> None:
    key = VerifierKey.parse(NOTES[0][0])
    assert key.key_id == 0xC74F20A3
    assert key_id("PeterNeumann", key.public_key) == 0xC74F20A3
    assert key.label == "PeterNeumann+c74f20a3"


def test_generated_keys_sign_and_verify_and_round_trip() -> None:
    signer = SignerKey.generate("haoshangliang.example/log")
    assert SignerKey.parse(str(signer)).seed == signer.seed
    assert VerifierKey.parse(str(signer.verifier)) == signer.verifier
    note = sign_note("会议纪要\nline two\n", signer)
    assert open_note(note, [signer.verifier]).text == "会议纪要\nline two\n"


def test_unknown_key_is_named() -> None:
    _, note = NOTES[0]
    other = VerifierKey.parse(NOTES[1][0])
    with pytest.raises(UnknownKeyError, match=r"signed by: PeterNeumann\+c74f20a3") as info:
        open_note(note, [other])
    assert info.value.signed_by == ("PeterNeumann+c74f20a3",)
    with pytest.raises(UnknownKeyError):
        open_note(note, [])


def test_a_key_sharing_only_the_name_is_another_key() -> None:
    _, note = NOTES[0]
    impostor = SignerKey.generate("PeterNeumann")
    with pytest.raises(UnknownKeyError):
        open_note(note, [impostor.verifier])


def test_signatures_by_unknown_keys_are_kept_but_not_trusted() -> None:
    ours, theirs = SignerKey.generate("ours"), SignerKey.generate("theirs")
    note = sign_note("text\n", theirs, ours)
    opened = open_note(note, [ours.verifier])
    assert opened.verified_by == (ours.verifier,)
    assert [s.label for s in opened.unverified] == [theirs.verifier.label]


def test_a_bad_signature_by_a_known_key_fails_the_note_even_beside_a_good_one() -> None:
    good, other = SignerKey.generate("good"), SignerKey.generate("other")
    note = sign_note("text\n", good, other)
    forged = Signature("other", other.verifier.key_id, good.sign(b"text\n"))
    tampered = note + forged.line()
    with pytest.raises(SignatureError, match=re.escape(f"by key {other.verifier.label}")):
        open_note(tampered, [good.verifier, other.verifier])
    # Repeated good signatures by one key are checked once and count once.
    doubled = note + parse_note(note).signatures[0].line()
    assert open_note(doubled, [good.verifier]).verified_by == (good.verifier,)


SIG_LINE = NOTES[0][1].splitlines(keepends=True)[-1]
TEXT = "If you think cryptography is the answer to your problem,\n"


@pytest.mark.parametrize(
    ("message", "line", "reason"),
    [
        (TEXT + SIG_LINE, None, "no blank line"),
        (TEXT + "\n", 3, "no signature lines"),
        (TEXT + "\n" + SIG_LINE.rstrip("\n"), 3, "does not end with a newline"),
        (TEXT + "\n" + SIG_LINE.replace("—", "-"), 3, "em dash"),
        (TEXT + "\n" + SIG_LINE + "not a signature\n", 4, "em dash"),
        (TEXT + "\n" + SIG_LINE.replace("PeterNeumann", "Peter+Neumann"), 3, "key name"),
        (TEXT + "\n" + SIG_LINE.replace("PeterNeumann ", "PeterNeumann"), 3, "key name"),
        (TEXT + "\n" + SIG_LINE.replace("x08go", "x08g!"), 3, "not valid base64"),
        (TEXT + "\n" + SIG_LINE.replace("AM=", "AN="), 3, "not canonical base64"),
        (TEXT + "\n— PeterNeumann AAAA\n", 3, "too short"),
        ("line one\nline\ttwo\n\n" + SIG_LINE, 2, "control character U+0009"),
        ("line one\r\n\n" + SIG_LINE, 1, "control character U+000D"),
    ],
)
def test_malformed_notes_name_the_line(message: str, line: int | None, reason: str) -> None:
    with pytest.raises(MalformedNoteError, match=re.escape(reason)) as info:
        open_note(message, [VerifierKey.parse(NOTES[0][0])])
    assert info.value.line == line
    if line is not None:
        assert f"line {line}:" in str(info.value)


def test_invalid_utf8_names_the_line() -> None:
    message = b"fine\n\xff\xfe\n\n" + SIG_LINE.encode()
    with pytest.raises(MalformedNoteError, match="line 2: invalid UTF-8") as info:
        parse_note(message)
    assert info.value.line == 2


def test_too_many_signatures_are_refused() -> None:
    with pytest.raises(MalformedNoteError, match="more than 100 signature lines"):
        parse_note(TEXT + "\n" + SIG_LINE * 101)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("PeterNeumann+c74f20a3", "3 parts"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3+ApjJXB4pxr1mxIaDDGyEFu3/9AOsVYJzk8zFzDlcPkj2", "unknown algorithm"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy", "bytes, want 32"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "base64"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
    ],
)
def test_malformed_verifier_keys_are_refused(text: str, reason: str) -> None:
    with pytest.raises(KeyFormatError, match=re.escape(reason)):
        VerifierKey.parse(text)


def test_malformed_signer_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(KeyFormatError) as info:
        SignerKey.parse(GO_SIGNER_KEY.replace("PRIVATE", "SECRET"))
    assert "AYEKFALV" not in str(info.value)
    with pytest.raises(KeyFormatError, match="does not match"):
        SignerKey.parse(GO_SIGNER_KEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(KeyFormatError, match="seed is 31 bytes"):
        SignerKey("name", b"\x00" * 31)


def test_signing_checks_the_text() -> None:
    signer = SignerKey.generate("k")
    with pytest.raises(MalformedNoteError, match="must end with a newline"):
        sign_note("no newline", signer)
    with pytest.raises(MalformedNoteError, match="control character"):
        sign_note("tab\there\n", signer)
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("text\n")
    # A text may hold blank lines, even at its end: the last blank line is the separator.
    for text in ("a\n\nb\n", "a\n\n", "\n"):
        assert open_note(sign_note(text, signer), [signer.verifier]).text == text
