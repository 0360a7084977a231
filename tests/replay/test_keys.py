"""The signing key file: made once, private, reused, and never shown in an error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from replay.keys import KeyFileError, key_path, load_or_create_signer


def test_made_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_signer(tmp_path, "haoshangliang/hsl")
    path = key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_signer(tmp_path, "haoshangliang/hsl")
    assert again.seed == first.seed
    assert str(first.seed) not in repr(first)
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_another_name_and_a_broken_file_are_refused_without_the_key(tmp_path: Path) -> None:
    signer = load_or_create_signer(tmp_path, "haoshangliang/hsl")
    with pytest.raises(KeyFileError, match="named 'haoshangliang/hsl', not 'haoshangliang/other'"):
        load_or_create_signer(tmp_path, "haoshangliang/other")
    secret = str(signer)
    key_path(tmp_path).write_text(secret[:-3] + "!!!\n")
    with pytest.raises(KeyFileError, match="is not a signer key") as info:
        load_or_create_signer(tmp_path, "haoshangliang/hsl")
    # PRIVATE+KEY+<name>+<hash>+<base64 key>: the key's base64 may hold "+" itself
    key_material = secret.split("+", 4)[4]
    assert len(key_material) > 40
    assert key_material[:20] not in str(info.value)
