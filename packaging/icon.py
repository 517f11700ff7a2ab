#!/usr/bin/env python3
"""Writes the plugin's 128x128 icon (Resources/Icon128.png), always the same
bytes: a ring on a dark square, drawn here, no image tools needed.

    python3 packaging/icon.py OUT.png
"""
import struct
import sys
import zlib

SIZE = 128


def pixel(x, y):
    dx, dy = x - 63.5, y - 63.5
    r = (dx * dx + dy * dy) ** 0.5
    if 34 <= r <= 48:
        return (64, 196, 160)  # the ring: a queue that comes round
    if r < 14:
        return (240, 240, 240)  # the hit at its centre
    return (24, 28, 36)


def png(width, height, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 packaging/icon.py OUT.png", file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], "wb") as f:
        f.write(png(SIZE, SIZE, [[pixel(x, y) for x in range(SIZE)] for y in range(SIZE)]))
