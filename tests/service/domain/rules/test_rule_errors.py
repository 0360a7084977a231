"""The rules' errors (docs/domain.md, "The rules"): one per refusing rule, each citing its section.

Each rule's own tests are in ``test_rule<N>_s<chapter>_<paragraph>_<name>.py`` beside this file.
"""

from __future__ import annotations

import ast

from service.domain.errors import (
    RULE_ERRORS,
    ResidentQuotaShortfall,
    RuleViolation,
)
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


class TestRuleErrors:
    def test_each_rule_has_its_error(self) -> None:
        """Rules 1–8 each have one RuleViolation subclass carrying its number and section."""
        assert [e.rule_number for e in RULE_ERRORS] == list(range(1, 9))
        for error in RULE_ERRORS:
            assert issubclass(error, RuleViolation)
            assert error.rule.startswith("§")
            assert error.remedy
            assert error.remedy_en

    def test_each_refusal_cites_the_seed_where_it_is_decided(self) -> None:
        """Every ``raise`` of a rule's error in the aggregates and the application's commands
        sits in a function whose docstring or comments cite the seed section (§…) it enforces."""
        rule_errors = {error.__name__ for error in RULE_ERRORS}
        uncited: list[str] = []
        raises = 0
        paths = [
            *(ROOT / "service" / "domain").glob("*.py"),
            *(ROOT / "service" / "commands").glob("*.py"),
        ]
        for path in sorted(paths):
            lines = path.read_text(encoding="utf-8").splitlines()
            for fn in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(fn, ast.FunctionDef):
                    continue
                body = "\n".join(lines[fn.lineno - 1 : fn.end_lineno])
                for node in ast.walk(fn):
                    if (
                        isinstance(node, ast.Raise)
                        and isinstance(node.exc, ast.Call)
                        and isinstance(node.exc.func, ast.Name)
                        and node.exc.func.id in rule_errors
                    ):
                        raises += 1
                        if "§" not in body:
                            uncited.append(f"{path.name}:{node.lineno} {fn.name}")
        assert raises > 20  # the walk found the checks
        assert uncited == []

    def test_message_names_rule_and_remedy(self) -> None:
        """The message says what is wrong, the seed section, and what to do, in both languages."""
        error = ResidentQuotaShortfall("群众代表 3/6 < 2/3", "resident representatives 3/6 < 2/3")
        assert str(error).startswith("群众代表 3/6 < 2/3 (§四.4)：请增加群众代表")
        assert "add resident representatives or record a justification" in str(error)
        assert error.status == 409
