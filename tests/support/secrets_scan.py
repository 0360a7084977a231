"""The secrets of a data directory, and a search for them in what processes wrote.

A test that runs real processes (tests/service/test_secrets.py, the fault suite) collects every log
line and everything printed, then asks :meth:`SecretScan.hits`: the answer must be empty.
Secrets come from the data directory (the embedded server's NATS passwords in
``nats/users.json``, the checkpoint signing key) and from the test itself (bearer tokens it
issued or guessed, passwords it put into a ``NATS_URL``): ``users.json`` holds only digests of
the tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from replay.keys import key_path


@dataclass
class SecretScan:
    """Named secret values to look for."""

    secrets: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        if not value:
            raise ValueError(f"secret {name!r} is empty")
        self.secrets[name] = value

    def add_data_dir(self, data_dir: Path) -> None:
        """The NATS passwords and the signing key that ``data_dir`` holds (those present)."""
        users = data_dir / "nats" / "users.json"
        if users.exists():
            for role, password in json.loads(users.read_text(encoding="utf-8"))["users"].items():
                self.add(f"NATS password of {role}", password)
        key = key_path(data_dir)
        if key.exists():
            text = key.read_text(encoding="ascii").strip()
            self.add("signing key", text)
            # PRIVATE+KEY+name+keyid+base64(seed): the base64 may hold "+" itself, so the seed
            # is all after the fourth "+" (the last "+"-part alone can be two characters that
            # occur in any log by chance).
            self.add("signing key seed", text.split("+", 4)[-1])

    @classmethod
    def of_data_dir(cls, data_dir: Path, **more: str) -> SecretScan:
        scan = cls()
        scan.add_data_dir(data_dir)
        for name, value in more.items():
            scan.add(name, value)
        return scan

    def hits(self, text: str, source: str = "text") -> list[str]:
        """``"<secret name> in <source> line <n>"`` for every line of ``text`` holding one."""
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            found += [
                f"{name} in {source} line {number}"
                for name, value in self.secrets.items()
                if value in line
            ]
        return found

    def file_hits(self, paths: Iterable[Path]) -> list[str]:
        """:meth:`hits` over each file that exists (logs, captured output)."""
        found = []
        for path in paths:
            if path.exists():
                found += self.hits(path.read_text(encoding="utf-8", errors="replace"), str(path))
        return found


def data_dir_logs(data_dir: Path) -> list[Path]:
    """Every log file under ``data_dir`` (the embedded server's ``nats/nats-server.log``)."""
    return sorted(data_dir.rglob("*.log"))
