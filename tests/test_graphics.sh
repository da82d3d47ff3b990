#!/bin/sh
# The graphics paths in front of real terminals. Kitty: what the chat writes with
# --image-mode kitty (uploads, placement, placeholder cells) checked against the protocol's
# documented form (tests/kittyform.py). Sixel: the chat in a real xterm (-ti vt340) under Xvfb,
# choosing sixel by itself (--image-mode auto), and the image read back from a screenshot of the
# X display (xwd, tests/xwdpixels.py): four colored quadrants where they belong. The xterm part
# is skipped when Xvfb, xterm or xwd is missing (scripts/setup.sh installs them).
. "$(dirname "$0")/lib.sh"

HERE="$SRCDIR/tests"
# a 96x96 PNG in four quadrants: orange, violet / teal, pink (colors no text of the chat uses)
python3 - "$WORK/quad.png" <<'EOF2'
import struct, sys, zlib
colors = [(255, 128, 0), (128, 0, 255), (0, 160, 160), (255, 160, 192)]
rows = b"".join(b"\0" + b"".join(bytes(colors[(y >= 48) * 2 + (x >= 48)]) for x in range(96))
                for y in range(96))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 96, 96, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
EOF2

# script NAME: the typing for one session: stage the picture, send it, wait, leave
script() {
    cat >"$WORK/$1.script" <<EOS
expect F1 help
send /image $WORK/quad.png\r
expect 729 positions
send what is it?\r
expect reused
sleep 1
mark $WORK/$1.shown
waitfile $WORK/$1.done
send /quit\r
EOS
}

# --- kitty: the output against the protocol's form (the relay is the terminal here)
script kitty
touch "$WORK/kitty.done"
TERM=xterm-256color python3 "$HERE/termrelay.py" --script "$WORK/kitty.script" --log "$WORK/kitty.log" \
    --size 100x30 -- "$IMP_CHAT" -m "$MODEL" --backend cpu --image-mode kitty -n 3 \
    </dev/null >/dev/null 2>"$WORK/err"
rc=$?
python3 "$HERE/kittyform.py" "$WORK/kitty.log" >"$WORK/kittyform"
ok $? "kitty: $(tr '\n' ';' <"$WORK/kittyform") (status $rc)"

# --- sixel: a real xterm under Xvfb, read back from a screenshot
missing=
for tool in Xvfb xterm xwd; do
    command -v $tool >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "sixel in xterm: skipped (missing:$missing)"
    finish
    exit
fi
Xvfb -displayfd 3 -screen 0 720x560x24 -nolisten tcp 3>"$WORK/display" 2>"$WORK/xvfb.log" &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$WORK"' EXIT
for i in $(seq 100); do [ -s "$WORK/display" ] && break; sleep 0.1; done
DISPLAY=":$(cat "$WORK/display")"
export DISPLAY
script sixel
# xterm's own TERM (xterm, 8 colors); what the chat writes is logged by the relay
xterm -ti vt340 -geometry 100x40+0+0 -xrm 'XTerm*numColorRegisters: 256' -e \
    python3 "$HERE/termrelay.py" --script "$WORK/sixel.script" --log "$WORK/sixel.log" -- \
    "$IMP_CHAT" -m "$MODEL" --backend cpu --image-mode auto -n 3 2>"$WORK/err" &
term=$!
for i in $(seq 600); do [ -f "$WORK/sixel.shown" ] && break; sleep 0.1; done
xwd -root -silent -out "$WORK/shot.xwd"
touch "$WORK/sixel.done"
wait $term
grep -aq "$(printf '\033P')[0-9;]*q" "$WORK/sixel.log"
ok $? "xterm -ti vt340: the chat chose sixel by itself and wrote a sixel image"
python3 "$HERE/xwdpixels.py" "$WORK/shot.xwd" ff8000 8000ff 00a0a0 ffa0c0 >"$WORK/pixels"
# each quadrant a solid block of about the same size, in its place
python3 - "$WORK/pixels" <<'EOF2'
import sys
q = {}
for line in open(sys.argv[1]):
    name, count, x0, y0, x1, y1 = line.split()
    q[name] = (int(count), int(x0), int(y0), int(x1), int(y1))
orange, violet, teal, pink = q["ff8000"], q["8000ff"], q["00a0a0"], q["ffa0c0"]
counts = [v[0] for v in q.values()]
good = (min(counts) > 1000 and max(counts) < 1.5 * min(counts)
        and orange[3] < violet[1] and teal[3] < pink[1]      # left of
        and orange[4] < teal[2] and violet[4] < pink[2])     # above
print("quadrants %s" % " ".join("%s:%d px at %d,%d" % (k, v[0], v[1], v[2]) for k, v in q.items()))
sys.exit(0 if good else 1)
EOF2
ok $? "xterm: the screenshot shows the four quadrants in place ($(cat "$WORK/pixels" | tr '\n' ' '))"
[ $failures -eq 0 ] || python3 "$HERE/xwdpixels.py" "$WORK/shot.xwd" --png "$TMPROOT/test_graphics.shot.png" >/dev/null

finish
