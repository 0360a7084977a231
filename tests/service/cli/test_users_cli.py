"""``hsl users add|list|revoke``: a token printed once, stored hashed, revoked at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.auth.users import UserStore, digest
from service.cli.main import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HSL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NATS_URL", raising=False)
    return tmp_path


def test_add_list_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["users", "add", "party-1", "--name", "柳溪镇党委", "--role", "party_org"]
    assert main([*args, "--county", "清河县", "--town", "柳溪镇"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("hsl_")
    stored = (data_dir / "users.json").read_text()
    assert token not in stored
    assert digest(token) in stored
    assert (data_dir / "users.json").stat().st_mode & 0o077 == 0
    store = UserStore.in_data_dir(data_dir)
    user = store.authenticate(token)
    assert user is not None
    assert user.grants[0].scope.town == "柳溪镇"

    assert main(["users", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [u["id"] for u in listed] == ["party-1"]
    assert "token_sha256" not in listed[0]

    assert main(["users", "add", "party-1", "--name", "again", "--role", "clerk"]) == 1
    assert "exists" in capsys.readouterr().err

    assert main(["users", "revoke", "party-1"]) == 0
    assert store.authenticate(token) is None


def test_a_town_needs_a_county(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "x", "--name", "x", "--role", "clerk", "--town", "柳溪镇"]) == 1
    assert "--town needs --county" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--name", "王\x1b[2J五"], "name: holds the control character U+001B"),
        (["--name", "\u202e五王"], "name: holds the bidi control character U+202E"),
        (["--name", "\u3000"], "name: is only whitespace"),
        (["--name", "王五", "--county", "清河\x00县"], "grants[0].scope.county"),
        (["--name", "王五", "--county", "清河县", "--town", " "], "grants[0].scope.town"),
    ],
)
def test_names_and_places_are_clean_text(
    data_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], named: str
) -> None:
    """The rule of a command's text (service.domain.text); nothing is stored."""
    assert main(["users", "add", "wang-5", "--role", "clerk", *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hsl: error: invalid user: ")
    assert named in err
    assert (
        not (data_dir / "users.json").exists()
        or "wang-5" not in (data_dir / "users.json").read_text()
    )


def test_an_id_is_one_line(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "wang\n5", "--name", "王五", "--role", "clerk"]) == 1
    assert "id: holds the control character U+000A" in capsys.readouterr().err
