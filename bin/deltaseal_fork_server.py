"""Makes a Python DeltaSeal writer a fork-server writer (writer.mode: fork-server).

    import deltaseal_fork_server

    def main(argv):             # the writer contract: --input FILE... --out DIR; returns the exit code
        ...

    if __name__ == "__main__":
        deltaseal_fork_server.run(main, prepare=lambda: __import__("chromadb"))

Run as `COMMAND --fork-server`, the program imports its libraries once (`prepare`), then for each
delta the supervisor asks for it forks a child that runs `main` with that delta's arguments,
environment and working directory and exits: every handle the libraries leave open still dies
with a process, and the supervisor still seals the delta only once that process is gone. Run
without `--fork-server` it is the same program as before, one process per delta.

The protocol (docs/formats.md, "Fork-server protocol"): the supervisor's socket is the server's
stdin; requests and replies are JSON lines. A `write` request carries three descriptors
(SCM_RIGHTS): the child's stdout and stderr, a pipe the child waits on before it starts (so the
supervisor can check it and move it into its cgroup first), and, where the kernel has Landlock,
the ruleset the child enforces on itself before it runs `main` (writes only below its `out/` and
`tmp/`). The server keeps each exited child unreaped (waitid with WNOWAIT) until the supervisor
says `reap`, so its pid names nobody else while the supervisor may still signal its group.
"""
import ctypes
import gc
import json
import os
import signal
import socket
import sys
import threading
import traceback

PROTOCOL = 1
_SYS_LANDLOCK_RESTRICT_SELF = 446  # x86_64 and arm64 alike
_MAX_REQUEST = 1 << 20


def run(main, prepare=None, argv=None):
    """Serves when `--fork-server` is among the arguments, else runs `main` once and exits."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--fork-server" not in argv:
        sys.exit(main(argv))
    if prepare is not None:
        prepare()
    # What the imports made stays out of every child's garbage collections: fewer pages of the
    # server's heap are copied into each child.
    gc.freeze()
    _Server(main).serve()


class _Server:
    def __init__(self, main):
        self.main = main
        self.channel = socket.socket(fileno=os.dup(0))
        # fd 0 is /dev/null from here: a child inherits no copy of the supervisor's socket.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        self.lock = threading.Lock()
        self.children = {}  # pid -> request id, until reaped

    def send(self, message):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        with self.lock:
            self.channel.sendall(data)

    def serve(self):
        self.send({"ready": True, "protocol": PROTOCOL, "pid": os.getpid()})
        while True:
            # A SOCK_SEQPACKET socket: one request per message, its descriptors with it.
            data, fds, flags, _ = socket.recv_fds(self.channel, _MAX_REQUEST, 8)
            if not data:
                # The supervisor went: so does the server, and what it forked (the next start
                # kills what a crash left anyway, by the pids it recorded).
                with self.lock:
                    for pid in self.children:
                        try:
                            os.killpg(pid, signal.SIGKILL)
                        except OSError:
                            pass
                os._exit(0)
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                for fd in fds:
                    os.close(fd)
                self.send({"error": "a request was cut (too long, or too many descriptors)"})
                continue
            try:
                request = json.loads(data)
            except ValueError:
                for fd in fds:
                    os.close(fd)
                self.send({"error": "a request is not JSON"})
                continue
            self.handle(request, fds)

    def handle(self, request, fds):
        op = request.get("op")
        if op == "write":
            self.fork(request, fds)
        elif op == "reap":
            for fd in fds:
                os.close(fd)
            pid = request.get("pid")
            with self.lock:
                known = self.children.pop(pid, None) is not None
            if known:
                # Nothing signals the group after this; whatever of it is left goes now, so the
                # wait below is not a wait on a running child.
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
        else:
            for fd in fds:
                os.close(fd)
            self.send({"id": request.get("id"), "error": f"unknown op {op!r}"})

    def fork(self, request, fds):
        if len(fds) not in (2, 3):
            for fd in fds:
                os.close(fd)
            self.send({"id": request.get("id"), "error": f"a write takes 2 or 3 descriptors, got {len(fds)}"})
            return
        output, go = fds[0], fds[1]
        ruleset = fds[2] if len(fds) == 3 else None
        pid = os.fork()
        if pid == 0:
            self.child(request, output, go, ruleset)  # never returns
        with self.lock:
            self.children[pid] = request["id"]
        for fd in fds:
            os.close(fd)
        try:
            os.setpgid(pid, pid)  # also from here, so the group exists before the supervisor looks
        except OSError:
            pass
        self.send({"id": request["id"], "pid": pid})
        threading.Thread(target=self.watch, args=(pid, request["id"]), daemon=True).start()

    def child(self, request, output, go, ruleset):
        code = 70
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.channel.close()
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.close(output)
            # Wait for the supervisor's go: it checks this process and moves it into its cgroup first.
            if os.read(go, 1) != b"g":
                os._exit(70)
            os.close(go)
            if ruleset is not None:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
                    print(f"fork-server: landlock_restrict_self: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
                    os._exit(70)
                os.close(ruleset)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            sys.argv = [sys.argv[0]] + request["argv"]
            result = self.main(request["argv"])
            code = result if isinstance(result, int) else 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def watch(self, pid, request):
        """Reports the child's end without reaping it (the supervisor says when: `reap`)."""
        while True:
            try:
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                return
        if info.si_code == os.CLD_EXITED:
            self.send({"id": request, "exit": info.si_status})
        else:
            self.send({"id": request, "signal": info.si_status})
