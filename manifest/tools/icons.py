"""Draws the extension icons (extension/icons/icon-{16,32,48,128}.png).

A lightning bolt on a rounded dark square, anti-aliased by 4x4
supersampling. Standard library only (zlib + struct), so it runs anywhere:

    python3 manifest/tools/icons.py
"""

import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "extension", "icons")
SIZES = (16, 32, 48, 128)
BG = (17, 24, 39)
FG = (56, 189, 248)
# Bolt outline in a 0..1 square, clockwise.
BOLT = [(0.58, 0.10), (0.26, 0.56), (0.47, 0.56), (0.40, 0.90), (0.74, 0.42), (0.53, 0.42)]
RADIUS = 0.22
SS = 4


def inside_polygon(x, y, poly):
    hit = False
    j = len(poly) - 1
    for i, (xi, yi) in enumerate(poly):
        xj, yj = poly[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit


def inside_rounded_square(x, y):
    cx = min(max(x, RADIUS), 1 - RADIUS)
    cy = min(max(y, RADIUS), 1 - RADIUS)
    return (x - cx) ** 2 + (y - cy) ** 2 <= RADIUS**2


def pixel(px, py, size):
    bg = fg = 0
    for sy in range(SS):
        for sx in range(SS):
            x = (px + (sx + 0.5) / SS) / size
            y = (py + (sy + 0.5) / SS) / size
            if inside_rounded_square(x, y):
                if inside_polygon(x, y, BOLT):
                    fg += 1
                else:
                    bg += 1
    n = SS * SS
    alpha = (bg + fg) / n
    if bg + fg == 0:
        return (0, 0, 0, 0)
    t = fg / (bg + fg)
    rgb = tuple(round(b + (f - b) * t) for b, f in zip(BG, FG))
    return rgb + (round(alpha * 255),)


def png(size):
    rows = b""
    for py in range(size):
        rows += b"\0" + b"".join(bytes(pixel(px, py, size)) for px in range(size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for size in SIZES:
        path = os.path.join(OUT, f"icon-{size}.png")
        with open(path, "wb") as f:
            f.write(png(size))
        print(path)
