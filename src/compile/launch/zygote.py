"""qmk-api's fork server for QMK's command line (see src/compile/launch/python.rs).

A run of QMK's CLI spends most of its time importing Python modules. This server
imports, once, the libraries the CLI imports, then forks one process per run, which
starts as a fresh interpreter running the `qmk` script would: the run's arguments,
environment, folder and standard streams, and the script executed from its first line.
Only libraries are imported ahead: never QMK's own modules nor its CLI framework
(milc), which read the arguments, the environment and the folder when imported.

Arguments: the socket's folder and name, the script, the key of the environment the
server serves (a run whose key differs is refused) and the qmk_firmware tree.
"""

import os
import select
import signal
import socket
import struct
import sys

# Top-level modules that read their run's state when imported: never imported ahead.
RUN_STATE = ("qmk", "qmk_cli", "milc", "__main__")

# An accepted run, then its status; or a refusal.
ACCEPTED, STATUS, REFUSED = b"A", b"S", b"X"


def main():
    folder, name, script, key, tree = sys.argv[1:6]
    # As `python SCRIPT` has it: the script's folder first.
    sys.path[0] = os.path.dirname(script)
    search_path = list(sys.path)
    for module in discover(script, tree):
        try:
            __import__(module)
        except Exception:
            pass
    imported = library_files()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # A relative name: the folder's path may be longer than a socket address allows.
    os.chdir(folder)
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass
    listener.bind(name)
    listener.listen(64)
    os.chdir("/")
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            serve(connection, script, key, search_path, imported)
        connection.close()
        reap()


def reap():
    """Waits for the runs that ended, so that their time counts as the server's."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] != 0:
            pass
    except ChildProcessError:
        pass


def discover(script, tree):
    """The library modules the CLI imports, learnt from a run of `qmk --version` in a
    child process, in the order they were imported."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        try:
            os.chdir(tree)
            sys.argv = [script, "--version"]
            import runpy

            runpy.run_path(script, run_name="__main__")
        except BaseException:
            pass
        root = os.path.realpath(tree) + os.sep
        names = [name for name, module in list(sys.modules.items()) if is_library(name, module, root)]
        os.write(write, "\n".join(names).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return [name for name in b"".join(chunks).decode().split("\n") if name]


def is_library(name, module, root):
    if name.split(".")[0] in RUN_STATE:
        return False
    path = getattr(module, "__file__", None)
    return path is None or not os.path.realpath(path).startswith(root)


def library_files():
    """Each imported module's file with its size, modification time and inode."""
    stamps = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path:
            try:
                stat = os.stat(path)
                stamps[path] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            except OSError:
                stamps[path] = None
    return stamps


def unchanged(imported):
    for path, stamp in imported.items():
        try:
            stat = os.stat(path)
            now = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        except OSError:
            now = None
        if now != stamp:
            return False
    return True


def serve(connection, script, key, search_path, imported):
    """One run, in a child of the server: checks the key and that no library imported
    ahead changed on disk, runs the script in a child of its own and reports how it
    ended. Never returns. A changed library ends the server: the next build starts a
    new one."""
    fds, fields = receive(connection)
    if fields[0] != key.encode():
        connection.sendall(REFUSED)
        os._exit(0)
    if not unchanged(imported):
        os.kill(os.getppid(), signal.SIGTERM)
        connection.sendall(REFUSED)
        os._exit(0)
    connection.sendall(ACCEPTED)
    pid = os.fork()
    if pid == 0:
        connection.close()
        start(fds, fields, script, search_path)
    for fd in fds:
        os.close(fd)
    status = wait(pid, connection)
    connection.sendall(STATUS + struct.pack("<i", status))
    os._exit(0)


def receive(connection):
    """The run's standard streams and its fields: key, folder, process group, then
    the arguments and the environment, each list after its length."""
    data, ancillary, _, _ = connection.recvmsg(4, socket.CMSG_SPACE(3 * 4))
    fds = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            count = len(payload) // 4
            fds.extend(struct.unpack("<%di" % count, payload[: 4 * count]))
    (length,) = struct.unpack("<I", exactly(connection, 4 - len(data), data))
    body = exactly(connection, length, b"")
    fields, at = [], 0
    while at < len(body):
        (size,) = struct.unpack_from("<I", body, at)
        fields.append(body[at + 4 : at + 4 + size])
        at += 4 + size
    if len(fds) != 3:
        os._exit(1)
    return fds, fields


def exactly(connection, count, start):
    data = start
    while len(data) < len(start) + count:
        chunk = connection.recv(len(start) + count - len(data))
        if not chunk:
            os._exit(1)
        data += chunk
    return data


def start(fds, fields, script, search_path):
    """Becomes the run: its process group (stopped with the build's make), streams,
    folder, environment and arguments; then runs the script as `python SCRIPT` would."""
    _, folder, group = fields[:3]
    count = int(fields[3])
    args = [os.fsdecode(arg) for arg in fields[4 : 4 + count]]
    environment = fields[5 + count : 5 + count + int(fields[4 + count])]
    try:
        os.setpgid(0, int(group))
    except OSError:
        pass
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(folder)
    os.environb.clear()
    for entry in environment:
        name, _, value = entry.partition(b"=")
        os.environb[name] = value
    sys.argv = [script] + args
    sys.path[:] = search_path
    import runpy

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as error:
        # The traceback from the script down, as Python prints it for `python SCRIPT`.
        trace = error.__traceback__
        while trace is not None and trace.tb_frame.f_code.co_filename != script:
            trace = trace.tb_next
        sys.excepthook(type(error), error, trace or error.__traceback__)
        raise SystemExit(1)
    # Leaves through the interpreter's own exit: threads joined, atexit run, streams flushed.
    raise SystemExit(0)


def wait(pid, connection):
    """The run's exit status (negative: the signal that ended it). A closed connection
    means the launcher is gone: the run is stopped."""
    try:
        process = os.pidfd_open(pid)
    except (AttributeError, OSError):
        process = None
    while process is not None:
        ready, _, _ = select.select([connection, process], [], [])
        if process in ready:
            break
        if connection in ready and not connection.recv(1):
            os.kill(pid, signal.SIGKILL)
            break
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    main()
