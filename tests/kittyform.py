#!/usr/bin/env python3
"""Check a program's terminal output against the kitty graphics protocol's documented form.

usage: kittyform.py LOG

LOG holds the bytes written to the terminal. Checked, as https://sw.kovidgoyal.net/kitty/graphics-protocol/
describes them: every graphics command is ESC _ G control-data [; payload] ESC \\, its control data
comma-separated key=value pairs with documented keys and values; a transmission sends PNG data
(f=100) directly (t=d) in base64 chunks of at most 4096 bytes, each but the last a multiple of 4
and marked m=1, the continuations carrying no keys but m (and q); the data decodes to a PNG; a
virtual placement (a=p, U=1) gives the image's columns and rows; the placeholder cells are
U+10EEEE followed by the row and column diacritics of the protocol's table, drawn in the 256-color
foreground that is the image id. Prints what it found; exits 1 on a problem.
"""

import base64
import re
import struct
import sys

# the first entries of the protocol's rowcolumn-diacritics.txt (index n encodes row or column n)
DIACRITICS = [
    0x0305, 0x030D, 0x030E, 0x0310, 0x0312, 0x033D, 0x033E, 0x033F, 0x0346, 0x034A, 0x034B, 0x034C,
    0x0350, 0x0351, 0x0352, 0x0357, 0x035B, 0x0363, 0x0364, 0x0365, 0x0366, 0x0367, 0x0368, 0x0369,
    0x036A, 0x036B, 0x036C, 0x036D, 0x036E, 0x036F, 0x0483, 0x0484, 0x0485, 0x0486, 0x0487, 0x0592,
    0x0593, 0x0594, 0x0595, 0x0597, 0x0598, 0x0599, 0x059C, 0x059D, 0x059E, 0x059F, 0x05A0, 0x05A1,
    0x05A8, 0x05A9, 0x05AB, 0x05AC, 0x05AF, 0x05C4, 0x0610, 0x0611, 0x0612, 0x0613, 0x0614, 0x0615,
]
# documented keys: single-character values or integers
CHAR_KEYS = {"a": "tTqpdfac", "t": "dfts", "o": "z", "d": "aAiIpPqQxXyYzZcCfFrRnN"}
INT_KEYS = set("fimqUpcrsvSOxywhXYzCPQHV")


def parse(cmd, problems):
    control, _, payload = cmd.partition(";")
    keys = {}
    for pair in control.split(",") if control else []:
        k, sep, v = pair.partition("=")
        if not sep or len(k) != 1:
            problems.append("malformed pair %r" % pair)
        elif k in CHAR_KEYS:
            if len(v) != 1 or v not in CHAR_KEYS[k]:
                problems.append("key %s: %r is not a documented value" % (k, v))
        elif k in INT_KEYS:
            if not re.fullmatch(r"-?\d+", v):
                problems.append("key %s: %r is not an integer" % (k, v))
        else:
            problems.append("undocumented key %r" % k)
        if k in keys:
            problems.append("key %s given twice" % k)
        keys[k] = v
    return keys, payload


def check_transmission(cmds, i, keys, payload, problems):
    """Check the chunks of a transmission from cmds[i]; returns the index after it and the PNG size."""
    if keys.get("f") != "100" or keys.get("t", "d") != "d" or "i" not in keys:
        problems.append("transmission without f=100, t=d and an id: %r" % keys)
    data = ""
    while True:
        if len(payload) > 4096:
            problems.append("a chunk of %d bytes (at most 4096)" % len(payload))
        if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", payload):
            problems.append("a chunk that is not base64")
        data += payload
        if keys.get("m", "0") == "0":
            break
        if len(payload) % 4:
            problems.append("a chunk of %d bytes before more (a multiple of 4)" % len(payload))
        i += 1
        if i == len(cmds):
            problems.append("the data ends with m=1")
            break
        keys, payload = parse(cmds[i], problems)
        if set(keys) - {"m", "q"}:
            problems.append("a continuation chunk with keys %r" % sorted(keys))
    png = base64.b64decode(data + "=" * (-len(data) % 4))
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        problems.append("the data is not a PNG")
        return i + 1, None
    return i + 1, struct.unpack(">II", png[16:24])


def main():
    text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
    problems = []
    # the stream in order: graphics commands, SGR sequences, placeholder cells
    events = re.findall("\x1b_G(.*?)\x1b\\\\|\x1b\\[([0-9;]*)m|\U0010EEEE(.)(.)", text, re.S)
    cmds = [e[0] for e in events if e[0]]
    if not cmds:
        print("no graphics command in the output")
        return 1
    uploads, placements = {}, {}
    fg = None
    cells = ncmds = 0
    k = 0
    while k < len(events):
        apc, sgr, row, col = events[k]
        k += 1
        if apc:
            ncmds += 1
            keys, payload = parse(apc, problems)
            action = keys.get("a", "t")
            if action in "tT":
                # the chunks follow one another in the stream
                chunk = [apc]
                while keys.get("m", "0") == "1" and k < len(events) and events[k][0]:
                    chunk.append(events[k][0])
                    keys, _ = parse(events[k][0], [])
                    k += 1
                    ncmds += 1
                first_keys, first_payload = parse(chunk[0], [])
                _, size = check_transmission(chunk, 0, first_keys, first_payload, problems)
                uploads[first_keys.get("i")] = size
            elif action == "p":
                if keys.get("U") != "1" or int(keys.get("c", 0)) <= 0 or int(keys.get("r", 0)) <= 0:
                    problems.append("placement without U=1, c and r: %r" % keys)
                placements[keys.get("i")] = (int(keys.get("c", 0)), int(keys.get("r", 0)))
        elif row:
            cells += 1
            r, c = ord(row), ord(col)
            if fg not in placements:
                problems.append("a placeholder in color %r, which is no placed image" % fg)
                continue
            cols, rows = placements[fg]
            if r not in DIACRITICS[:rows] or c not in DIACRITICS[:cols]:
                problems.append("a placeholder with diacritics U+%04X U+%04X outside %dx%d"
                                % (r, c, cols, rows))
        else:
            codes = sgr.split(";")
            for j, code in enumerate(codes):
                if code == "38" and j + 2 < len(codes) and codes[j + 1] == "5":
                    fg = codes[j + 2]
                elif code in ("0", "39", ""):
                    fg = None
    if not uploads or not placements or cells == 0:
        problems.append("%d uploads, %d placements, %d placeholder cells"
                        % (len(uploads), len(placements), cells))
    unique = list(dict.fromkeys(problems))
    for p in unique[:5]:
        print(p)
    if len(unique) > 5:
        print("... and %d more problems" % (len(unique) - 5))
    print("%d commands, uploads %r, placements %r, %d placeholder cells"
          % (ncmds, uploads, placements, cells))
    return 1 if problems else 0


sys.exit(main())
