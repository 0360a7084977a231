"""Where a person's own SQL runs (``hsl query``, ``hsl export --sql``): the views and nothing else.

A read-only DuckDB connection still reads and writes files: ``COPY … TO`` (also inside
``EXPLAIN ANALYZE``, which runs it), ``EXPORT DATABASE``, ``ATTACH``, ``INSTALL``/``LOAD``,
``CREATE SECRET``, the table functions over files (``read_text``, ``read_csv``, ``read_json``,
``read_parquet``, ``read_blob``, ``glob``, ``sniff_csv``), a file name or URL in ``FROM``, and
``SET`` could undo any limit. Such SQL once overwrote ``nats/users.json`` and read
``audit/signer.key``. So two fences, either of which is enough on its own:

1. **DuckDB's own**: :func:`open_sandboxed` opens the views file read-only with external access
   disabled (no file, directory or URL but the database's own files, and DuckDB's temporary
   directory beside it), no extension installed or loaded (not even automatically), no Python
   object scanned by name, and the configuration locked, so no ``SET``, ``RESET`` or
   ``PRAGMA`` gives any of it back. Only ``writable`` paths (the temporary file a Parquet export
   writes) are let through besides.
2. **the statement**: :func:`check_read_only` lets through exactly one statement of the kinds
   asked for: ``SELECT`` (``WITH``, ``FROM``-first, ``VALUES``, ``SHOW``, ``DESCRIBE`` and
   ``SUMMARIZE`` parse as one) and, where asked, ``EXPLAIN`` of a ``SELECT`` (``EXPLAIN ANALYZE``
   runs the statement it explains, so ``EXPLAIN ANALYZE COPY …`` would write).

What is refused is listed in docs/analytics.md ("What the SQL can reach").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb

LOCKED: Final[dict[str, Any]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
}
"""The connection's settings, in the order they are applied (the lock last)."""

SELECT: Final = duckdb.StatementType.SELECT
EXPLAIN: Final = duckdb.StatementType.EXPLAIN


class SandboxError(ValueError):
    """The SQL is not one read-only statement, or the views cannot be opened; one line."""


def open_sandboxed(path: Path, *, writable: Sequence[Path] = ()) -> duckdb.DuckDBPyConnection:
    """The views at ``path``, read-only, reaching no file but theirs and ``writable``."""
    if not writable:  # all at start: another read of the same file in-process shares it
        try:
            return duckdb.connect(str(path), read_only=True, config=dict(LOCKED))
        except duckdb.Error as e:
            raise SandboxError(f"cannot open {path} read-only: {e}") from e
    # DuckDB takes allowed_paths only once the database runs, so the fences go up one by one.
    fences = ("enable_external_access", "lock_configuration")
    settings = {k: v for k, v in LOCKED.items() if k not in fences}
    try:
        con = duckdb.connect(str(path), read_only=True, config=settings)
    except duckdb.Error as e:
        raise SandboxError(f"cannot open {path} read-only: {e}") from e
    try:
        con.execute("SET allowed_paths = ?", [[str(p) for p in writable]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


OUTSIDE: Final = (
    "the SQL reads the views and nothing else (docs/analytics.md, What the SQL can reach)"
)


def described(error: duckdb.Error) -> str:
    """DuckDB's message, saying why when it is the sandbox that refused."""
    text = str(error)
    if isinstance(error, duckdb.PermissionException) or "configuration has been locked" in text:
        return f"{text} - {OUTSIDE}"
    return text


def check_read_only(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    kinds: Sequence[duckdb.StatementType] = (SELECT,),
) -> None:
    """Refuse ``sql`` unless it is exactly one statement of ``kinds`` (an EXPLAIN: of a SELECT)."""
    names = " or ".join(kind.name for kind in kinds)
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise SandboxError(f"bad SQL: {e}") from e
    if len(statements) != 1:
        msg = f"give exactly one {names} statement, not {len(statements)}"
        raise SandboxError(msg)
    kind = statements[0].type
    if kind not in kinds:
        msg = f"the views are read-only here, so {names}, not {kind.name}"
        raise SandboxError(msg)
    if kind == EXPLAIN:
        explained = _explained(con, statements[0].query)
        if explained != SELECT:
            what = "an unreadable statement" if explained is None else explained.name
            msg = f"the views are read-only here, so EXPLAIN of a SELECT, not of {what}"
            raise SandboxError(msg)


def _explained(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.StatementType | None:
    """The kind of statement ``EXPLAIN [ANALYZE | (options)] …`` explains; None if unclear."""
    every = duckdb.tokenize(query)
    ends = [offset for offset, _ in every[1:]] + [len(query)]
    tokens = [
        (offset, query[offset:end].strip())
        for (offset, kind), end in zip(every, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
    words = [word for _, word in tokens]
    if not words or words[0].upper() != "EXPLAIN":
        return None
    at = 1
    if at < len(words) and words[at].upper() in ("ANALYZE", "ANALYSE"):
        at += 1
    elif at < len(words) and words[at] == "(":
        depth = 0
        while at < len(words):
            depth += words[at].count("(") - words[at].count(")")
            at += 1
            if depth == 0:
                break
    if at >= len(words):  # ``EXPLAIN (SELECT …)``: the parentheses were the statement
        at = 1
    if at >= len(words):
        return None
    try:
        inner = con.extract_statements(query[tokens[at][0] :])
    except duckdb.Error:
        return None
    return inner[0].type if len(inner) == 1 else None
