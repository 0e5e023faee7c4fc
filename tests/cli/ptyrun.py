#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and answer its prompts, like a person would.

    ptyrun.py ANSWER... -- COMMAND ARG...

Each ANSWER is typed (followed by Enter) after the command prints a prompt that
ends in ": " and before its next prompt. Everything the command writes to the
terminal goes to our stdout; the exit status is the command's. Used by
tests/cli/cli.sh to check that tpmha asks for PINs without echoing them.
"""
import os
import pty
import select
import sys
import time


def main(argv):
    if "--" not in argv:
        sys.stderr.write(__doc__)
        return 2
    cut = argv.index("--")
    answers, cmd = argv[1:cut], argv[cut + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen = b""
    pending = 0  # where in `seen` to look for the next prompt
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        seen += chunk
        if answers and seen.find(b": ", pending) >= 0:
            pending = len(seen)
            time.sleep(0.05)  # let it turn the echo off first
            os.write(fd, answers.pop(0).encode() + b"\n")
    sys.stdout.write(seen.decode(errors="replace"))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8


if __name__ == "__main__":
    sys.exit(main(sys.argv))
