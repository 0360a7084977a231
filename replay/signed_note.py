"""Signed notes (c2sp.org/signed-note) with Ed25519 keys, as Go's sumdb/note writes them.

A signed note is a text ending in a newline, a blank line, then one or more signature lines::

    If you think cryptography is the answer to your problem,
    then you don't know what your problem is.

    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFY…

Each signature line is an em dash (U+2014), a space, the key name, a space and
``base64(key id ‖ signature)``: a 4-byte big-endian key id, then the 64-byte Ed25519 signature
of the note text (including its final newline, not the blank line). The key id is the first four
bytes of ``SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)``.

Keys are written as Go writes them:

- verifier key (public): ``name+hex(key id)+base64(0x01 ‖ public key)``;
- signer key (secret): ``PRIVATE+KEY+name+hex(key id)+base64(0x01 ‖ 32-byte seed)``.

Verification follows the spec: signatures by keys the verifier does not know (by name *and* id)
are ignored; a signature by a known key that fails makes the whole note fail; a note with no
signature by a known key fails. A note must be valid UTF-8 without control characters other than
newline. Base64 must be canonical (standard alphabet, padded, no stray bits), so no bit of a
signature line can change without the note failing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519: Final = 0x01
"""The signature type byte for Ed25519 (c2sp.org/signed-note, "Signature types")."""

MAX_SIGNATURES: Final = 100
"""Signature lines accepted in one note, as Go's verifier (the spec asks for at least 16)."""

SIGNATURE_PREFIX: Final = "— "
"""Em dash and space, the start of every signature line."""

_KEY_ID_RE: Final = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A signed note, or a key, that cannot be used; the message says what and where."""


class MalformedNoteError(NoteError):
    """A note that is not a signed note; names the line (1-based) when one is at fault."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(
            f"malformed note: line {line}: {reason}" if line else f"malformed note: {reason}"
        )


class KeyFormatError(NoteError):
    """A verifier or signer key string that is not well formed, or whose key id is wrong."""


class UnknownKeyError(NoteError):
    """A note with no signature by any key the verifier was given; names the keys that did sign."""

    def __init__(self, signed_by: tuple[str, ...]) -> None:
        self.signed_by = signed_by
        super().__init__("note has no signature by a known key; signed by: " + ", ".join(signed_by))


class SignatureError(NoteError):
    """A signature by a known key that does not verify; names the key."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"invalid signature by key {key}: the note text or signature was altered")


def is_valid_key_name(name: str) -> bool:
    """A key name: non-empty, no Unicode space, no plus sign (c2sp.org/signed-note)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> int:
    """An Ed25519 key's id: ``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]``, big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    """Decode canonical standard base64, or raise ``ValueError`` naming ``what``."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"{what} is not valid base64") from e
    if base64.b64encode(raw).decode() != text:
        raise ValueError(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key, as ``name+hex(key id)+base64(0x01 ‖ public key)``."""

    name: str
    public_key: bytes
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise KeyFormatError(f"invalid key name {self.name!r}: empty, or has a space or '+'")
        if len(self.public_key) != 32:
            raise KeyFormatError(f"Ed25519 public key is {len(self.public_key)} bytes, want 32")
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a verifier key string; checks its algorithm, length and key id."""
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise KeyFormatError(
                f"verifier key {text!r} is not name+keyid+key (3 parts split by '+')"
            )
        name, hex_id, b64 = parts
        if not _KEY_ID_RE.fullmatch(hex_id):
            raise KeyFormatError(f"verifier key {name}: key id {hex_id!r} is not 8 hex digits")
        try:
            raw = _b64decode(b64, "the key")
        except ValueError as e:
            raise KeyFormatError(f"verifier key {name}: {e}") from e
        if not raw or raw[0] != ALG_ED25519:
            alg = f"0x{raw[0]:02x}" if raw else "none"
            raise KeyFormatError(
                f"verifier key {name}: unknown algorithm {alg}, want 0x01 (Ed25519)"
            )
        key = cls(name, raw[1:])
        if key.key_id != int(hex_id, 16):
            raise KeyFormatError(
                f"verifier key {name}: key id {hex_id} does not match the key ({key.key_id:08x})"
            )
        return key

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{b64}"

    @property
    def label(self) -> str:
        """``name+hex(key id)``: how errors name the key."""
        return f"{self.name}+{self.key_id:08x}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class SignerKey:
    """A named Ed25519 private key (its 32-byte seed); ``repr`` never shows the seed."""

    name: str
    seed: bytes
    verifier: VerifierKey = field(init=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise KeyFormatError(f"Ed25519 seed is {len(self.seed)} bytes, want 32")
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        object.__setattr__(self, "verifier", VerifierKey(self.name, public))

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        """A new random key named ``name``."""
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """Read ``PRIVATE+KEY+name+hex(key id)+base64(0x01 ‖ seed)``; checks the key id."""
        parts = text.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            # Never echo the text: it may be a secret key with a typo.
            raise KeyFormatError("signer key is not PRIVATE+KEY+name+keyid+key")
        name, hex_id, b64 = parts[2:]
        if not _KEY_ID_RE.fullmatch(hex_id):
            raise KeyFormatError(f"signer key {name}: key id is not 8 hex digits")
        try:
            raw = _b64decode(b64, "the key")
        except ValueError as e:
            raise KeyFormatError(f"signer key {name}: {e}") from e
        if not raw or raw[0] != ALG_ED25519:
            raise KeyFormatError(f"signer key {name}: unknown algorithm, want 0x01 (Ed25519)")
        key = cls(name, raw[1:])
        if key.verifier.key_id != int(hex_id, 16):
            raise KeyFormatError(
                f"signer key {name}: key id {hex_id} does not match the key "
                f"({key.verifier.key_id:08x})"
            )
        return key

    def __str__(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{b64}"

    def __repr__(self) -> str:
        return f"SignerKey({self.verifier.label})"

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message`` (64 bytes, deterministic)."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and id, and the raw signature bytes."""

    name: str
    key_id: int
    signature: bytes

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"

    def line(self) -> str:
        """The signature line, with its newline."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signatures, verified or not."""

    text: str
    signatures: tuple[Signature, ...]

    def __str__(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


@dataclass(frozen=True)
class VerifiedNote:
    """A note with at least one good signature by a known key.

    ``verified_by`` are the known keys whose signatures held; ``unverified`` are the signatures
    by keys the verifier did not know, kept but not trusted.
    """

    text: str
    verified_by: tuple[VerifierKey, ...]
    unverified: tuple[Signature, ...]


def _check_characters(message: str) -> None:
    for number, line in enumerate(message.split("\n"), start=1):
        for c in line:
            if c < " ":
                raise MalformedNoteError(f"control character U+{ord(c):04X}", number)


def _decode(message: bytes | str) -> str:
    if isinstance(message, str):
        return message
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError as e:
        line = message[: e.start].count(b"\n") + 1
        raise MalformedNoteError(f"invalid UTF-8 at byte {e.start}", line) from e


def check_text(text: str) -> None:
    """Raise ``MalformedNoteError`` unless ``text`` can be a note's text."""
    if not text.endswith("\n"):
        raise MalformedNoteError("the note text must end with a newline")
    _check_characters(text)


def parse_note(message: bytes | str) -> Note:
    """Split a signed note into its text and signatures, checking its syntax (not signatures)."""
    msg = _decode(message)
    _check_characters(msg)
    split = msg.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("no blank line separates the text from the signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    first_line = text.count("\n") + 2  # the blank line is text.count("\n") + 1
    if not block:
        raise MalformedNoteError("no signature lines after the blank line", first_line)
    if not block.endswith("\n"):
        raise MalformedNoteError(
            "the last signature line does not end with a newline",
            first_line + block.count("\n"),
        )
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"more than {MAX_SIGNATURES} signature lines")
    signatures = tuple(_parse_signature_line(line, first_line + i) for i, line in enumerate(lines))
    return Note(text, signatures)


def _parse_signature_line(line: str, number: int) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError("a signature line must start with an em dash and a space", number)
    name, sep, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not is_valid_key_name(name):
        raise MalformedNoteError(f"invalid key name {name!r} in signature line", number)
    try:
        blob = _b64decode(b64, "the signature")
    except ValueError as e:
        raise MalformedNoteError(str(e), number) from e
    if len(blob) < 5:
        raise MalformedNoteError(f"signature is {len(blob)} bytes, too short", number)
    return Signature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def open_note(message: bytes | str, known: Iterable[VerifierKey]) -> VerifiedNote:
    """Parse a signed note and verify it against the ``known`` keys.

    Raises ``MalformedNoteError`` (naming the line), ``SignatureError`` (naming the key whose
    signature failed) or ``UnknownKeyError`` (no signature by any known key, naming the keys
    that did sign). Every signature by a known key must hold, even a second one by the same key.
    """
    note = parse_note(message)
    keys: dict[tuple[str, int], VerifierKey] = {}
    for key in known:
        if keys.setdefault((key.name, key.key_id), key) != key:
            raise KeyFormatError(f"two different known keys share the name and id {key.label}")
    text = note.text.encode()
    verified: dict[tuple[str, int], VerifierKey] = {}
    checked: set[Signature] = set()
    unverified: list[Signature] = []
    for sig in note.signatures:
        signer = keys.get((sig.name, sig.key_id))
        if signer is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        # Every signature by a known key is checked (the spec's MUST; Go's verifier checks
        # only a key's first); an identical repeated line needs no second check.
        if sig in checked:
            continue
        if not signer.verify(text, sig.signature):
            raise SignatureError(signer.label)
        checked.add(sig)
        verified.setdefault((sig.name, sig.key_id), signer)
    if not verified:
        raise UnknownKeyError(tuple(s.label for s in note.signatures))
    return VerifiedNote(note.text, tuple(verified.values()), tuple(unverified))


def sign_note(text: str, *signers: SignerKey) -> str:
    """The signed note of ``text`` (which must end with a newline) by each of ``signers``."""
    if not signers:
        raise NoteError("a signed note needs at least one signer")
    check_text(text)
    message = text.encode()
    signatures = tuple(Signature(s.name, s.verifier.key_id, s.sign(message)) for s in signers)
    return str(Note(text, signatures))
