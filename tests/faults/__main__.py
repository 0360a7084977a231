"""``python -m tests.faults``: run the fault scenarios, print their tables, write the report.

Exits 1 when any scenario lost, duplicated or tore a commit, failed ``hsl audit verify --live``
or its own check, left a secret in a log, or could not finish; 0 otherwise (skipped scenarios
do not count).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from service.logging import configure_logging
from tests.faults.report import REPORT, render
from tests.faults.scenario import NOT_RUN, Options, Result, run_scenario
from tests.faults.scenarios import SCENARIOS

DEFAULT_BUDGET = 600.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument(
        "--only", action="append", metavar="N", help="run scenario N only (repeatable)"
    )
    parser.add_argument(
        "--budget", type=float, default=DEFAULT_BUDGET, help="seconds for the whole run"
    )
    parser.add_argument("--quick", action="store_true", help="the short subset's sizes")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's temp dir")
    parser.add_argument(
        "--out", type=Path, default=REPORT, help=f"the report to write (default {REPORT})"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--note", action="append", default=[], help="a line to add to the report's header"
    )
    args = parser.parse_args(argv)
    configure_logging("warning")  # this process's own: the embedded server's start and stop
    chosen = [s for s in SCENARIOS if not args.only or s.key in args.only]
    if not chosen:
        parser.error(f"no scenario {args.only}; they are {', '.join(s.key for s in SCENARIOS)}")
    options = Options(quick=args.quick, keep=args.keep)
    started = time.monotonic()
    results: list[Result] = []
    for scenario in chosen:
        left = args.budget - (time.monotonic() - started)
        if left < 20:
            reason = f"{NOT_RUN} the budget of {args.budget:.0f} s ran out"
            result = Result(scenario, skipped=reason)
        else:
            print(f"scenario {scenario.key}: {scenario.title} …", flush=True)
            result = run_scenario(scenario, options, left)
        results.append(result)
        print(render([result], header=False), flush=True)
    text = render(results, header=True, argv=argv or sys.argv[1:], notes=args.note)
    if not args.no_write:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    bad = [r.scenario.key for r in results if r.bad]
    print(f"{'FAILED' if bad else 'OK'}: scenarios {', '.join(bad) or 'none'} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
