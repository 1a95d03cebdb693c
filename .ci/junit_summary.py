"""Add up the JUnit reports of CI's pytest and schemathesis stages into one closing line.

CI's tools read a run's last pytest summary line ("==== N passed, N skipped in Ns ====") to tell
whether tests ran. schemathesis closes with a line of that shape that counts no test ("3 warnings
in 96s"; tests/api/run_schemathesis.sh rewrites it now), so .ci/run ends with the sum of every
stage in pytest's own format, and a plain "total:" line before it.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def totals(paths: list[Path]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()  # noqa: S314 -- our own test runners wrote these files
        except (ET.ParseError, OSError) as exc:
            # The stage's own exit code already failed CI if it broke; only say so here.
            print(f"unreadable report {path}: {exc}")
            continue
        suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
        for suite in suites:
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    return passed, failed, skipped


def pytest_line(passed: int, failed: int, skipped: int, seconds: float) -> str:
    """The closing line as pytest prints it: failed first, zero counts left out, 80 wide."""
    parts = [f"{n} {word}" for n, word in ((failed, "failed"), (passed, "passed"), (skipped, "skipped")) if n]
    text = f" {', '.join(parts) or 'no tests ran'} in {seconds:.2f}s "
    return text.center(80, "=")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+", type=Path, help="folders holding JUnit XML reports")
    parser.add_argument("--seconds", type=float, default=0.0, help="the whole run's wall time")
    args = parser.parse_args(argv)
    paths = sorted(p for d in args.directories for p in d.rglob("*.xml"))
    passed, failed, skipped = totals(paths)
    print(f"reports: {', '.join(str(p) for p in paths) or 'none'}")
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    print(pytest_line(passed, failed, skipped, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
