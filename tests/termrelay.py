#!/usr/bin/env python3
"""Run a command on a pseudo-terminal of its own, relaying it to this terminal, and type for it.

usage: termrelay.py --script FILE --log FILE [--size COLSxROWS] -- COMMAND [ARG...]

Run inside a terminal emulator (xterm under Xvfb), it is a wire between the emulator and the
command: what the command writes goes to the emulator unchanged (sixel and kitty graphics
included), the emulator's answers and keys go back, and the window size is passed on. Without a
terminal on stdin/stdout it is the terminal (answering nothing). Everything the command writes is
also appended to the log. The script types for a person, one step a line:

    expect TEXT      wait until TEXT has been written by the command (60 s at most)
    send TEXT        type TEXT (backslash escapes: \\r, \\x1b, ...)
    sleep SECONDS
    mark PATH        create the file PATH
    waitfile PATH    wait until the file PATH exists (60 s at most)

Exits with the command's status (124 when a wait timed out, 128 + N after signal N).
"""

import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
import tty


def winsize(fd):
    return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--size", default="100x30")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    steps = [line.rstrip("\n").split(" ", 1) for line in open(args.script) if line.strip()]
    outer = os.isatty(0) and os.isatty(1)

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    if outer:
        size = winsize(1)
        saved = termios.tcgetattr(0)
        tty.setraw(0)
    else:
        cols, rows = (int(v) for v in args.size.split("x"))
        size = (rows, cols, 0, 0)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size))
    if outer:
        signal.signal(signal.SIGWINCH,
                      lambda s, f: fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *winsize(1))))

    log = open(args.log, "wb")
    seen = b""
    status = None
    step = 0
    deadline = None
    wake = 0.0
    try:
        while True:
            inputs = [fd] + ([0] if outer else [])
            try:
                ready, _, _ = select.select(inputs, [], [], 0.05)
            except InterruptedError:
                continue
            if fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                log.write(data)
                log.flush()
                seen = (seen + data)[-1 << 20 :]
                if outer:
                    os.write(1, data)
            if 0 in ready:
                data = os.read(0, 4096)
                if data:
                    os.write(fd, data)
            now = time.time()
            while step < len(steps) and now >= wake:
                verb, arg = steps[step][0], steps[step][1] if len(steps[step]) > 1 else ""
                if deadline is None:
                    deadline = now + 60
                if verb == "expect" and arg.encode() not in seen:
                    break
                if verb == "waitfile" and not os.path.exists(arg):
                    break
                if verb == "send":
                    os.write(fd, arg.encode().decode("unicode_escape").encode("latin-1"))
                elif verb == "sleep":
                    wake = now + float(arg)
                elif verb == "mark":
                    open(arg, "w").close()
                step += 1
                deadline = None
            if deadline is not None and now > deadline:
                os.kill(pid, signal.SIGKILL)
                status = 124
                break
    finally:
        if outer:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
    _, st = os.waitpid(pid, 0)
    if status is None:
        status = 128 + os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
    return status


if __name__ == "__main__":
    sys.exit(main())
