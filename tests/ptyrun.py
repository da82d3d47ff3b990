#!/usr/bin/env python3
"""Run a command on a pseudo-terminal (stdin, stdout and stderr), as a person at a terminal would.

usage: ptyrun.py [--expect TEXT --answer LINE] [--cols N] --out FILE -- COMMAND [ARG...]

Everything the command writes goes to FILE. When TEXT appears in the output, LINE and a newline are
typed once (LINE "^C" types Ctrl-C alone). The exit status is the command's (128 + N when signal N
ended it); 124 after 60 s.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect")
    ap.add_argument("--answer")
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--out", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, args.cols, 0, 0))
    out = b""
    answered = args.expect is None
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        if not answered and args.expect.encode() in out:
            os.write(fd, b"\x03" if args.answer == "^C" else (args.answer + "\n").encode())
            answered = True
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with open(args.out, "wb") as f:
            f.write(out)
        return 124
    _, status = os.waitpid(pid, 0)
    with open(args.out, "wb") as f:
        f.write(out)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
