#!/usr/bin/env python3
"""Find solid colors in a screenshot of an X display (the XWD file `xwd -root` writes).

usage: xwdpixels.py FILE.xwd [--png OUT.png] COLOR...

Each COLOR is RRGGBB. For each, the solid pixels of that color (within 40 on every channel, and
so are their 8 neighbours: text strokes do not count) are counted and their bounding box printed
as "RRGGBB count x0 y0 x1 y1" (count 0: none). --png writes the screenshot
as a PNG (to look at a failure).
"""

import struct
import sys
import zlib


def read_xwd(path):
    data = open(path, "rb").read()
    fields = struct.unpack(">25I", data[:100])
    (header_size, _version, _format, _depth, width, height, _xoff, byte_order, _unit, _bit_order,
     _pad, bpp, bytes_per_line, _visual, red_mask, green_mask, blue_mask, _bits_rgb, _cmap,
     ncolors) = fields[:20]
    if bpp not in (24, 32):
        sys.exit("xwdpixels: %d bits per pixel is not handled" % bpp)
    pixels = data[header_size + 12 * ncolors :]
    step = bpp // 8
    order = "little" if byte_order == 0 else "big"

    def shift(mask):
        s = 0
        while mask and not mask & 1:
            mask >>= 1
            s += 1
        return s

    shifts = [(m, shift(m)) for m in (red_mask, green_mask, blue_mask)]
    rows = []
    for y in range(height):
        line = pixels[y * bytes_per_line : y * bytes_per_line + width * step]
        row = []
        for x in range(width):
            v = int.from_bytes(line[x * step : x * step + step], order)
            row.append(tuple((v & m) >> s for m, s in shifts))
        rows.append(row)
    return width, height, rows


def write_png(path, width, height, rows):
    raw = b"".join(b"\0" + bytes(c for p in row for c in p) for row in rows)

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def main():
    args = sys.argv[1:]
    png = None
    if "--png" in args:
        i = args.index("--png")
        png = args[i + 1]
        del args[i : i + 2]
    width, height, rows = read_xwd(args[0])
    if png:
        write_png(png, width, height, rows)
    wants = [tuple(int(h[i : i + 2], 16) for i in (0, 2, 4)) for h in args[1:]]
    # each pixel's class: the index of the wanted color it is near, else -1 (colors are few)
    classes = {}

    def classify(p):
        if p not in classes:
            classes[p] = next((k for k, w in enumerate(wants)
                               if all(abs(a - b) <= 40 for a, b in zip(p, w))), -1)
        return classes[p]

    grid = [[classify(p) for p in row] for row in rows]
    for k, hexcolor in enumerate(args[1:]):
        # solid: the pixel and its 8 neighbours all have the color (text strokes do not count)
        count, x0, y0, x1, y1 = 0, width, height, -1, -1
        for y in range(1, height - 1):
            up, row, down = grid[y - 1], grid[y], grid[y + 1]
            for x in range(1, width - 1):
                if row[x] == k and row[x - 1] == k and row[x + 1] == k and up[x - 1] == k and \
                        up[x] == k and up[x + 1] == k and down[x - 1] == k and down[x] == k and \
                        down[x + 1] == k:
                    count += 1
                    x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
        print("%s %d %d %d %d %d" % (hexcolor, count, x0, y0, x1, y1))


main()
