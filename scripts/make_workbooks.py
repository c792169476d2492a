"""Regenerate config/session-template.xlsx and config/sample-session.xlsx.

The sample workbook is made from config/sample-session.yaml, so the two forms of the sample can
never drift apart (tests/sessionfile/test_workbooks.py checks that they parse to the same session).

    .venv/bin/python scripts/make_workbooks.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lms_bridge.sessionfile import read_session_file
from lms_bridge.sessionfile.workbook import write_workbook

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "config", help="where to write (default: config/)")
    args = parser.parse_args(argv)
    spec, problems = read_session_file(ROOT / "config" / "sample-session.yaml")
    if spec is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    write_workbook(args.out / "session-template.xlsx")
    write_workbook(args.out / "sample-session.xlsx", spec)
    print(f"wrote {args.out / 'session-template.xlsx'} and {args.out / 'sample-session.xlsx'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
