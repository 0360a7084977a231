"""replay.checkpoint: the c2sp.org/tlog-checkpoint body, read strictly and written canonically."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replay.checkpoint import Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint
from replay.merkle import EMPTY_ROOT, TreeBuilder
from replay.signed_note import SignatureError, SignerKey, UnknownKeyError

# The example body of the tlog-checkpoint specification.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")


def test_the_spec_example_parses_and_formats_back() -> None:
    checkpoint = Checkpoint.parse(SPEC_BODY)
    assert checkpoint == Checkpoint("example.com/behind-the-sofa", 20852163, ROOT)
    assert checkpoint.text() == SPEC_BODY


def test_extension_lines_and_the_empty_tree() -> None:
    body = "log\n0\n" + base64.b64encode(EMPTY_ROOT).decode() + "\nfirst ext\nsecond\n"
    checkpoint = Checkpoint.parse(body)
    assert checkpoint.size == 0
    assert checkpoint.root_hash == EMPTY_ROOT
    assert checkpoint.extensions == ("first ext", "second")
    assert checkpoint.text() == body


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\n"),
        min_size=1,
    ),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_format_then_parse_is_the_identity(origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin, size, root)
    assert Checkpoint.parse(checkpoint.text()) == checkpoint


ROOT_LINE = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("log\n1\n" + ROOT_LINE, None, "end with a newline"),
        ("log\n1\n", None, "want at least 3"),
        ("\n1\n" + ROOT_LINE + "\n", 1, "empty line"),
        ("log\n1\n" + ROOT_LINE + "\n\n", 4, "empty line"),
        ("log\n01\n" + ROOT_LINE + "\n", 2, "leading zeroes"),
        ("log\n+1\n" + ROOT_LINE + "\n", 2, "not a decimal"),
        ("log\n1_000\n" + ROOT_LINE + "\n", 2, "not a decimal"),
        ("log\n١\n" + ROOT_LINE + "\n", 2, "not a decimal"),
        ("log\n 1\n" + ROOT_LINE + "\n", 2, "not a decimal"),
        ("log\n18446744073709551616\n" + ROOT_LINE + "\n", 2, "exceeds"),
        ("log\n1\n" + ROOT_LINE[:-1] + "\n", 3, "not valid base64"),
        ("log\n1\n" + ROOT_LINE.replace("2I=", "2J=") + "\n", 3, "not canonical"),
        ("log\n1\n" + base64.b64encode(b"x" * 31).decode() + "\n", 3, "31 bytes, want 32"),
    ],
)
def test_malformed_bodies_name_the_line(body: str, line: int | None, reason: str) -> None:
    with pytest.raises(CheckpointError, match=re.escape(reason)) as info:
        Checkpoint.parse(body)
    assert info.value.line == line


def test_the_constructor_validates_too() -> None:
    with pytest.raises(CheckpointError, match="origin"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(CheckpointError, match="origin"):
        Checkpoint("two\nlines", 1, ROOT)
    with pytest.raises(CheckpointError, match="outside"):
        Checkpoint("log", -1, ROOT)
    with pytest.raises(CheckpointError, match="root hash is 31 bytes"):
        Checkpoint("log", 1, ROOT[:31])
    with pytest.raises(CheckpointError, match="extension"):
        Checkpoint("log", 1, ROOT, ("",))


def test_signed_checkpoint_round_trip_against_a_built_tree() -> None:
    signer = SignerKey.generate("haoshangliang.example/log")
    tree = TreeBuilder()
    tree.extend_entries(f"event {i}".encode() for i in range(1000))
    checkpoint = Checkpoint(signer.name, tree.size, tree.root())
    note = sign_checkpoint(checkpoint, signer)
    opened, verified = open_checkpoint(note, [signer.verifier], origin=signer.name)
    assert opened == checkpoint
    assert verified.verified_by == (signer.verifier,)

    with pytest.raises(CheckpointError, match="is not the log 'another/log'"):
        open_checkpoint(note, [signer.verifier], origin="another/log")
    with pytest.raises(UnknownKeyError):
        open_checkpoint(note, [SignerKey.generate(signer.name).verifier])
    backdated = note.replace("\n1000\n", "\n999\n")
    with pytest.raises(SignatureError):
        open_checkpoint(backdated, [signer.verifier])
