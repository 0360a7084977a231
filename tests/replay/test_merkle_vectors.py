"""The verifiers against transparency-dev/merkle's published probes (tests/replay/vectors/).

Every probe in ``testdata/inclusion`` and ``testdata/consistency`` must give its ``wantErr``,
with one documented exception (docs/integrity.md, "Policy"): the probe
``consistency/additional/sizes-are-equal-one-and-proof-is-empty`` gives two equal 12-byte
placeholder roots and expects acceptance; our verifier requires every hash to be 32 bytes and
refuses it with ``HashSizeError``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from replay.merkle import (
    HashSizeError,
    ProofError,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent / "vectors"
TESTDATA = VECTORS / "rfc6962" / "testdata"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors"

# Probes where our policy differs from the probe's wantErr, with the error we give instead.
POLICY: dict[str, type[ProofError]] = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": HashSizeError,
}


def _probes(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).rglob("*.json"))


def _name(path: Path) -> str:
    return path.relative_to(TESTDATA).as_posix()


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in data["proof"] or []]


def test_the_vectors_are_all_there() -> None:
    """A missing folder must fail, not quietly parametrize nothing."""
    assert len(_probes("inclusion")) == 98
    assert len(_probes("consistency")) == 98
    assert all(name in {_name(p) for p in _probes("consistency")} for name in POLICY)


@pytest.mark.parametrize("path", _probes("inclusion"), ids=_name)
def test_inclusion_probe(path: Path) -> None:
    data = _load(path)

    def verify() -> None:
        verify_inclusion(
            _b64(data["leafHash"]),
            data["leafIdx"],
            data["treeSize"],
            _proof(data),
            _b64(data["root"]),
        )

    if data["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


@pytest.mark.parametrize("path", _probes("consistency"), ids=_name)
def test_consistency_probe(path: Path) -> None:
    data = _load(path)

    def verify() -> None:
        verify_consistency(
            data["size1"],
            data["size2"],
            _proof(data),
            _b64(data["root1"]),
            _b64(data["root2"]),
        )

    expected_error = POLICY.get(_name(path))
    if expected_error is not None:
        assert not data["wantErr"], "a policy exception for a probe that already expects an error"
        with pytest.raises(expected_error):
            verify()
    elif data["wantErr"]:
        with pytest.raises(ProofError):
            verify()
    else:
        verify()


def test_vectors_match_shared_copy() -> None:
    """Our copy is byte for byte the shared one, where the shared folder is beside the clone.

    A fresh clone without ``../shared`` has nothing to compare with; the copy alone is then
    what the other tests use, so this test has nothing to check and passes.
    """
    if not SHARED.is_dir():
        return
    ours = sorted(
        p.relative_to(VECTORS) for p in VECTORS.rglob("*") if p.is_file() and p.name != "README.md"
    )
    assert ours, "no vectors copied"
    for relative in ours:
        assert (VECTORS / relative).read_bytes() == (SHARED / relative).read_bytes(), relative
    # And nothing of what we copy from is missing here.
    theirs = sorted(
        p.relative_to(SHARED)
        for folder in ("rfc6962/testdata/inclusion", "rfc6962/testdata/consistency")
        for p in (SHARED / folder).rglob("*")
        if p.is_file()
    )
    assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
