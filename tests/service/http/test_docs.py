"""docs/api.md prints the role × command table as service/auth/policy.py has it."""

from __future__ import annotations

from service.auth.policy import IN_OWN_NAME, OWN_ASSIGNMENT, POLICY
from service.http.command_routes import COMMAND_ROUTES
from tests.support.paths import REPO_ROOT

API_MD = REPO_ROOT / "docs" / "api.md"


def policy_table() -> str:
    lines = [
        "| command | route | roles allowed (within their scope) |",
        "| --- | --- | --- |",
    ]
    for route in COMMAND_ROUTES:
        roles = ", ".join(f"`{role}`" for role in sorted(POLICY[route.name]))
        if route.name in OWN_ASSIGNMENT:
            roles += " (own assignments only)"
        if route.name in IN_OWN_NAME:
            field = IN_OWN_NAME[route.name][0]
            roles += f" (`{field}` must be the caller, except for the clerk)"
        path = route.path.replace("{id:uuid}", "{id}")
        lines.append(f"| `{route.name}` | `POST {path}` | {roles} |")
    return "\n".join(lines) + "\n"


def test_api_md_prints_the_policy_table() -> None:
    assert policy_table() in API_MD.read_text(encoding="utf-8"), (
        "docs/api.md's table differs from POLICY: paste tests.service.http.test_docs.policy_table()"
    )
