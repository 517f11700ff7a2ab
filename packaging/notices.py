#!/usr/bin/env python3
"""THIRD-PARTY-NOTICES.txt for one platform's archive, on stdout.

    python3 packaging/notices.py TRIPLE

Stub: it prints a placeholder. The real one lists the licences of every
crate built into that platform's library; it exits non-zero on an error.
"""

import sys


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: python3 packaging/notices.py TRIPLE", file=sys.stderr)
        return 2
    print(f"Third-party notices for offtrack ({argv[1]}): placeholder, to be generated from Cargo.lock.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
