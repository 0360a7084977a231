"""Prometheus counters for ``/metrics``, in the text exposition format (no client library).

- ``hsl_commands_total{command,result}``: commands by type and result (``ok``, ``refused``
  with a 4xx, ``failed`` with a 5xx);
- ``hsl_errors_total{type}``: problems answered, by their problem type;
- ``hsl_http_requests_total{method,status}``: every request;
- ``hsl_auth_failures_total{reason}``: failed authentications (``missing`` header,
  ``invalid`` token); ``hsl_auth_throttled_total``: requests answered 429 because their
  client address failed too often (``service.http.auth_limit``);
- gauges filled in at scrape time by :mod:`service.http.ops` (log head, views position, lag).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable

Gauges = Callable[[], dict[str, tuple[str, float | None]]]
"""More ``/metrics`` gauges from the serving process: name → (help, value or None to leave
out)."""


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return f"{{{inner}}}" if inner else ""


class Metrics:
    """Process-wide counters; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.auth_failures: Counter[str] = Counter()
        self.throttled = 0

    def command(self, name: str, result: str) -> None:
        with self._lock:
            self.commands[(name, result)] += 1

    def error(self, problem_type: str) -> None:
        with self._lock:
            self.errors[problem_type] += 1

    def request(self, method: str, status: int) -> None:
        with self._lock:
            self.requests[(method, str(status))] += 1

    def auth_failure(self, reason: str) -> None:
        with self._lock:
            self.auth_failures[reason] += 1

    def auth_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def render(self, gauges: dict[str, tuple[str, float | None]] | None = None) -> str:
        """The exposition text; ``gauges``: name → (help, value or None to leave out)."""
        with self._lock:
            commands = sorted(self.commands.items())
            errors = sorted(self.errors.items())
            requests = sorted(self.requests.items())
            auth_failures = sorted(self.auth_failures.items())
            throttled = self.throttled
        lines = [
            "# HELP hsl_commands_total Commands received over HTTP, by command and result.",
            "# TYPE hsl_commands_total counter",
        ]
        lines += [
            f"hsl_commands_total{_labels((('command', c), ('result', r)))} {n}"
            for (c, r), n in commands
        ]
        lines += [
            "# HELP hsl_errors_total Problems answered, by problem type.",
            "# TYPE hsl_errors_total counter",
        ]
        lines += [f"hsl_errors_total{_labels((('type', t),))} {n}" for t, n in errors]
        lines += [
            "# HELP hsl_http_requests_total HTTP requests, by method and status.",
            "# TYPE hsl_http_requests_total counter",
        ]
        lines += [
            f"hsl_http_requests_total{_labels((('method', m), ('status', s)))} {n}"
            for (m, s), n in requests
        ]
        lines += [
            "# HELP hsl_auth_failures_total Failed authentications, by reason.",
            "# TYPE hsl_auth_failures_total counter",
        ]
        lines += [
            f"hsl_auth_failures_total{_labels((('reason', r),))} {n}" for r, n in auth_failures
        ]
        lines += [
            "# HELP hsl_auth_throttled_total Requests refused (429) after too many failures.",
            "# TYPE hsl_auth_throttled_total counter",
            f"hsl_auth_throttled_total {throttled}",
        ]
        for name, (help_text, value) in (gauges or {}).items():
            if value is None:
                continue
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"


METRICS = Metrics()
"""The process's counters (one API per process)."""
