#!/usr/bin/env python3
"""Check the colors and attributes of a screen read back with `tmux capture-pane -e -p`.

usage: cellstyle.py FILE MODE [TEXT...]

MODE is 8, 256 or mono: what the program may use (8: palette colors 0-7 only; mono: no color at
all). Every visible character must be readable: not in its background's color, and not black on
the terminal's default background (the tests' tmux has a dark one). Each TEXT must be on the screen
and drawn with some color or attribute (so a role lost to "plain" would show). Prints what it found
and exits 1 on a problem.
"""

import re
import sys

ATTRS = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse"}
OFF = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("reverse",)}


def cells(line):
    """Yield (char, fg, bg, attrs) for each character of a captured line."""
    fg = bg = None
    attrs = set()
    for m in re.finditer(r"\x1b\[([0-9;:]*)m|([^\x1b])", line):
        if m.group(2) is not None:
            yield m.group(2), fg, bg, frozenset(attrs)
            continue
        codes = [int(c) if c else 0 for c in re.split("[;:]", m.group(1))]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                fg = bg = None
                attrs.clear()
            elif c in ATTRS:
                attrs.add(ATTRS[c])
            elif c in OFF:
                attrs.difference_update(OFF[c])
            elif 30 <= c <= 37:
                fg = c - 30
            elif 90 <= c <= 97:
                fg = c - 90 + 8
            elif 40 <= c <= 47:
                bg = c - 40
            elif 100 <= c <= 107:
                bg = c - 100 + 8
            elif c == 39:
                fg = None
            elif c == 49:
                bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5:
                    value = codes[i + 2]
                    i += 2
                else:
                    value = ("rgb", tuple(codes[i + 2 : i + 5]))
                    i += 4
                if c == 38:
                    fg = value
                else:
                    bg = value
            i += 1


def main():
    path, mode, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
    problems = []
    looks = set()
    lines = open(path, encoding="utf-8", errors="replace").read().split("\n")
    styled_text = {}
    for row, line in enumerate(lines):
        plain = ""
        styles = []
        for ch, fg, bg, attrs in cells(line):
            plain += ch
            styles.append((fg, bg, attrs))
            for color in (fg, bg):
                if color is None:
                    continue
                if mode == "mono":
                    problems.append("row %d: color %r used without colors" % (row, color))
                elif mode == "8" and not (isinstance(color, int) and color < 8):
                    problems.append("row %d: color %r on an 8-color terminal" % (row, color))
            if ch.strip() == "":
                continue
            looks.add((fg, bg, attrs))
            shown_fg, shown_bg = (bg, fg) if "reverse" in attrs else (fg, bg)
            if shown_fg is not None and shown_fg == shown_bg:
                problems.append("row %d: %r in its background's color %r" % (row, ch, shown_fg))
            if shown_fg in (0, 16) and shown_bg is None and "reverse" not in attrs:
                problems.append("row %d: %r black on the default background" % (row, ch))
        for text in texts:
            at = plain.find(text)
            if at >= 0:
                styled_text[text] = any(s != (None, None, frozenset()) for s in styles[at : at + len(text)])
    for text in texts:
        if text not in styled_text:
            problems.append("%r is not on the screen" % text)
        elif not styled_text[text]:
            problems.append("%r is drawn plain" % text)
    # one message per kind of problem is enough
    seen = set()
    for p in problems:
        key = re.sub(r"row \d+: ", "", p)
        if key not in seen:
            seen.add(key)
            print(p)
    print("%d looks on the screen" % len(looks))
    sys.exit(1 if problems else 0)


main()
