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
    # Size the pty before the command exists, so that no later resize races with the initial one.
    master, slave = pty.openpty()
    set_size(master, rows, cols)
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        os.closerange(3, 256)
        try:
            os.execvp(command[0], command)
        except OSError as err:
            os.write(2, f"{command[0]}: {err.strerror}\r\n".encode())
            os._exit(127)
    os.close(slave)
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
