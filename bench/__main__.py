"""`python -m bench <benchmark> [options]`; `python -m bench records --help`."""

from __future__ import annotations

import sys

BENCHMARKS = {
    "records": "bench.records",
    "purge": "bench.purge",
    "dsr": "bench.dsr",
    "erasure": "bench.erasure",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCHMARKS:
        print(__doc__.strip(), file=sys.stderr)
        print("benchmarks: " + ", ".join(sorted(BENCHMARKS)), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from importlib import import_module

    return int(import_module(BENCHMARKS[argv[0]]).main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
