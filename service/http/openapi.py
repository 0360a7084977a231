"""The OpenAPI document: served at ``/schema/openapi.json``, and written to docs/.

``python -m service.http.openapi [FILE]`` writes it (default ``docs/openapi.json``);
``tests/service/http/test_openapi.py`` fails when the file in docs/ is not current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from service.http.app import create_app
from service.http.services import Services
from service.http.views_reader import ViewsReader

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def document() -> dict[str, Any]:
    """The API's OpenAPI document, built without any server or log."""
    app = create_app(Services(app=None, users=None, views=ViewsReader(Path())))  # type: ignore[arg-type]
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    return schema


def render() -> str:
    """The document as docs/ keeps it: sorted keys, two-space indent, UTF-8, final newline."""
    return json.dumps(document(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
