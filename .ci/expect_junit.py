"""CI's check of the gate's JUnit file: exactly the named candidates failed, the others passed.

    python .ci/expect_junit.py reports/check-small.xml --failed gemini-first --passed claude gemini fused
"""

from __future__ import annotations

import argparse
import sys

from junitparser import JUnitXml


def outcomes(path: str) -> dict[str, bool]:
    """Test case name → passed, over every suite of the file."""
    return {case.name: case.is_passed for suite in JUnitXml.fromfile(path) for case in suite}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("junit")
    parser.add_argument("--failed", nargs="*", default=[])
    parser.add_argument("--passed", nargs="*", default=[])
    args = parser.parse_args()
    expected = {**{name: False for name in args.failed}, **{name: True for name in args.passed}}
    found = outcomes(args.junit)
    if found != expected:
        sys.stderr.write(f"gate JUnit {args.junit}: expected {expected}, found {found}\n")
        return 1
    sys.stdout.write(f"gate JUnit as expected: failed {args.failed}, passed {args.passed}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
