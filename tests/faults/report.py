"""docs/reliability.md: what was run, where, on which code, and each scenario's table."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime

from service.nats.bundled_server import find_server_binary, server_version
from tests.faults.figures import table
from tests.faults.scenario import Result
from tests.support.paths import REPO_ROOT

REPORT = REPO_ROOT / "docs" / "reliability.md"

LEGEND = """\
Columns: **acknowledged**, requests the client was told succeeded (2xx, or a save that
returned); **stored**, requests whose marker the log holds (read from the stream itself, not
through the application); **lost**, acknowledged but not stored; **duplicated**, stored more
than once (the same marker, i.e. the same Idempotency-Key, twice); **torn**, a multi-event
commit found only in part; **client errors**, every answer that was not a success, by HTTP
status (`conn refused`, `timeout`, `dropped`: no HTTP answer) or by the exception a direct
save raised, retries included; **time to recover**, from the fault to the first
acknowledgement of a request sent after it; **verify --live**, `hsl audit verify --live` on
the log afterwards; **check**, the scenario's own check. The run fails (exit 1) when any
lost, duplicated or torn figure is above 0, a verify or a check fails, a scenario cannot
finish, or a NATS password or bearer token appears in any log line the scenario's processes
wrote.
"""


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + (" (with uncommitted changes)" if dirty else "")


def _machine() -> str:
    try:
        nats = ".".join(map(str, server_version(find_server_binary())))
    except Exception:
        nats = "unknown"
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, nats-server {nats}"
    )


def render(
    results: list[Result],
    *,
    header: bool,
    argv: list[str] | None = None,
    notes: list[str] | None = None,
) -> str:
    """The report (``header``) or just the tables of ``results``."""
    parts: list[str] = []
    if header:
        shown = [a for a in argv or [] if a not in (notes or [])]
        command = " ".join(["python -m tests.faults", *shown]).replace("--note", "--note …")
        total = sum(r.seconds for r in results)
        parts += [
            "# Reliability: the fault suite, as figures",
            "",
            "Written by `python -m tests.faults` (tests/faults/); rerun it to refresh this page.",
            "Every process is real (`hsl` commands, `nats-server`), on loopback, each scenario on",
            "a temporary data directory of its own.",
            "",
            f"- command: `{command}`",
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {total:.0f} s in all",
            f"- machine: {_machine()}",
            f"- code: commit {_commit()}",
            *(f"- {note}" for note in notes or []),
            "",
            LEGEND,
            "## Summary",
            "",
            *(f"- {line}" for line in summary(results)),
            "",
        ]
    for result in results:
        s = result.scenario
        parts += [f"## {s.key}. {s.title}", "", s.what, ""]
        if result.skipped is not None:
            parts += [f"Skipped: {result.skipped}", ""]
            continue
        if result.rows:
            parts += [table(result.rows), ""]
        status = "FAILED" if result.bad else "passed"
        line = (
            f"{status} in {result.seconds:.0f} s; secrets found in its logs: {result.secret_hits}"
        )
        if result.error:
            line += f"; did not finish: {result.error}"
        parts += [line, ""]
        parts += [f"- {note}" for note in result.notes]
        if result.notes:
            parts.append("")
    return "\n".join(parts)


def _why(result: Result) -> list[str]:
    """What in a scenario's figures is wrong (or worth a look), in a few words each."""
    why: list[str] = []
    if result.error:
        why.append(f"did not finish ({result.error[:80]})")
    for row in result.rows:
        for count, what in ((row.lost, "lost"), (row.duplicated, "duplicated"), (row.torn, "torn")):
            if count:
                why.append(f"{row.case}: {count} {what}")
        if row.verify.startswith("FAILED"):
            why.append("verify --live failed: " + row.verify.removeprefix("FAILED ").split(":")[0])
        if row.failed:
            why.append(f"{row.case}: {row.check}")
        if "not recovered" in row.recover:
            why.append(f"{row.case}: writes not acknowledged again within the wait (not gated)")
    if result.secret_hits:
        why.append(f"{result.secret_hits} log lines hold a NATS password or bearer token")
    return list(dict.fromkeys(why))


def summary(results: list[Result]) -> list[str]:
    """One line per scenario: passed, failed and why, or skipped and why."""
    lines = []
    for result in results:
        s = result.scenario
        if result.skipped is not None:
            state = "FAILED" if result.bad else "skipped"
            lines.append(f"{s.key}. {s.title}: {state}, {result.skipped}")
        elif result.bad:
            lines.append(f"{s.key}. {s.title}: **FAILED**: " + "; ".join(_why(result)))
        else:
            notes = "; ".join(_why(result))
            lines.append(f"{s.key}. {s.title}: passed" + (f" ({notes})" if notes else ""))
    return lines
