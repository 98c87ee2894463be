# Runs a command on a real pty and relays it: fd 0 -> pty, pty -> fd 1. Fd 3 takes
# "<rows> <cols>\n" lines that resize the pty (the kernel then sends SIGWINCH). Exits with the
# command's exit code (128 + signal when killed). Used by the local cloud's shell sessions because
# node-pty cannot be built here; see README.md.
import fcntl
import os
import pty
import select
import struct
import sys
import termios

CTRL_FD = 3


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def main():
    rows, cols, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    pid, master = pty.fork()
    if pid == 0:
        set_size(0, rows, cols)
        os.execvp(command[0], command)
    watched = [master, CTRL_FD, 0]
    pending = b""
    while True:
        ready, _, _ = select.select(watched, [], [])
        # Resizes first, so that a Size sent before some input applies before it.
        if CTRL_FD in ready:
            data = os.read(CTRL_FD, 4096)
            if not data:
                watched.remove(CTRL_FD)
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                parts = line.split()
                if len(parts) == 2:
                    set_size(master, int(parts[0]), int(parts[1]))
        if 0 in ready:
            data = os.read(0, 65536)
            if data:
                write_all(master, data)
            else:
                watched.remove(0)
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            write_all(1, data)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(128 - code if code < 0 else code)


main()
