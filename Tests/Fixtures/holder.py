"""A process that keeps hold of a delta the way a hostile writer would, for SealerTests.

    holder.py KIND PATH READY [SOCKET]

Sets up the hold of PATH, then writes its pid to READY (by rename, so it appears whole) and
waits to be killed. KIND:

  fd            a read-only descriptor of the file
  opath         an O_PATH descriptor of the file (no open file description: no lease sees it)
  mmap-shared   a shared read-only mapping of the file, its descriptor closed
  mmap-private  a private mapping of the file, its descriptor closed
  cwd           its working directory is PATH (a directory)
  dirfd         a descriptor of the directory PATH
  in-flight     a descriptor of the file sent over a socketpair it keeps, never received, closed here
  hidden-cwd    forks a daemon that leaves the session (setsid), makes itself not dumpable (so
                the files under /proc/<pid> show root as their owner) and works in PATH; the
                daemon writes READY
  escaped       forks a setsid daemon that holds nothing of the delta; the daemon writes READY
  send          sends a descriptor of the file to the process listening on SOCKET, then exits
  receive       listens on SOCKET, keeps the descriptor it is sent; READY once listening,
                READY.got once it holds the descriptor
"""
import ctypes
import mmap
import os
import signal
import socket
import sys


def ready(path):
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)


def wait_forever():
    while True:
        signal.pause()


def main():
    kind, path, ready_path = sys.argv[1:4]
    keep = []
    if kind == "fd":
        keep.append(os.open(path, os.O_RDONLY))
    elif kind == "opath":
        keep.append(os.open(path, os.O_PATH))
    elif kind in ("mmap-shared", "mmap-private"):
        # libc's mmap, not Python's mmap module: that one keeps a duplicate of the descriptor.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        fd = os.open(path, os.O_RDONLY)
        flags = mmap.MAP_SHARED if kind == "mmap-shared" else mmap.MAP_PRIVATE
        address = libc.mmap(None, 4096, mmap.PROT_READ, flags, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            sys.exit("mmap: " + os.strerror(ctypes.get_errno()))
        os.close(fd)
    elif kind == "cwd":
        os.chdir(path)
    elif kind == "dirfd":
        keep.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY))
    elif kind == "in-flight":
        a, b = socket.socketpair()
        fd = os.open(path, os.O_RDONLY)
        socket.send_fds(a, [b"x"], [fd])
        os.close(fd)
        keep += [a, b]
    elif kind in ("hidden-cwd", "escaped"):
        if os.fork() != 0:
            # The writer's own process exits at once; its daemon stays.
            os._exit(0)
        os.setsid()
        if kind == "hidden-cwd":
            PR_SET_DUMPABLE = 4
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            os.chdir(path)
        else:
            os.chdir("/")
    elif kind == "send":
        fd = os.open(path, os.O_RDONLY)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(sys.argv[4])
            socket.send_fds(s, [b"x"], [fd])
            s.recv(1)  # the receiver's acknowledgement: it holds the descriptor
        os._exit(0)
    elif kind == "receive":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sys.argv[4])
        listener.listen(1)
        ready(ready_path)
        connection, _ = listener.accept()
        _, fds, _, _ = socket.recv_fds(connection, 1, 1)
        keep += fds
        ready(ready_path + ".got")
        connection.send(b"k")
        wait_forever()
    else:
        sys.exit("unknown kind " + kind)
    ready(ready_path)
    wait_forever()


main()
