"""Add up the JUnit reports of CI's pytest and schemathesis stages into one closing line.

CI's tools read the last lines of a run to tell whether tests ran: schemathesis closes with a
pytest-like "N warnings in Ns" line that counts no test, so .ci/run ends with this total
("total: N passed, N failed, N skipped").
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    paths = sorted(p for d in argv for p in Path(d).rglob("*.xml"))
    passed, failed, skipped = totals(paths)
    print(f"reports: {', '.join(str(p) for p in paths) or 'none'}")
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
