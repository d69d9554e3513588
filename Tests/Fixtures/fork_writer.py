#!/usr/bin/env python3
"""A small fork-server writer for the tests (ForkServerTests), built on bin/deltaseal_fork_server.py.

    fork_writer.py --input FILE [FILE...] --out DIR     one process per delta
    fork_writer.py --fork-server                        the fork-server

Writes the batches' lines into DIR/delta.sqlite3 (table lines). Exit 2 for a line containing BAD.
A batch line may ask for more, to test the sandbox and the server's life:
  PROBE        fail (exit 1) unless this child is confined: it must not be able to write into the
               server's own directory, and must not see the supervisor's store credentials;
  KILL-SERVER  kill the server, while it is the first one started (it then fails; a retry runs
               on a new server);
  SLEEP        sleep for an hour, while the server is the first one started.
The server appends "start PID" to $HOME/starts when it starts (HOME is its tmp/).
"""
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bin"))
import deltaseal_fork_server  # noqa: E402

SERVER_HOME = None


def prepare():
    global SERVER_HOME
    SERVER_HOME = os.environ["HOME"]
    with open(os.path.join(SERVER_HOME, "starts"), "a") as starts:
        starts.write(f"start {os.getpid()}\n")


def main(argv):
    inputs = argv[argv.index("--input") + 1:argv.index("--out")]
    out = argv[argv.index("--out") + 1]
    lines = []
    for path in inputs:
        with open(path) as batch:
            for number, line in enumerate(batch, 1):
                if "BAD" in line:
                    print(f"error: {path}:{number}: the line says BAD", file=sys.stderr)
                    return 2
                if "PROBE" in line and SERVER_HOME is not None:
                    try:
                        with open(os.path.join(SERVER_HOME, "escaped"), "w") as escaped:
                            escaped.write("out of its box\n")
                        print(f"error: wrote into {SERVER_HOME}", file=sys.stderr)
                        return 1
                    except PermissionError:
                        pass
                    if any(name.startswith("AWS_") for name in os.environ):
                        print("error: sees AWS_ variables", file=sys.stderr)
                        return 1
                if "SLEEP" in line and SERVER_HOME is not None:
                    with open(os.path.join(SERVER_HOME, "starts")) as starts:
                        if len(starts.readlines()) == 1:
                            time.sleep(3600)
                if "KILL-SERVER" in line and SERVER_HOME is not None:
                    with open(os.path.join(SERVER_HOME, "starts")) as starts:
                        if len(starts.readlines()) == 1:
                            os.kill(os.getppid(), signal.SIGKILL)
                            return 1
                lines.append(line)
    os.makedirs(out, exist_ok=True)
    db = sqlite3.connect(os.path.join(out, "delta.sqlite3"))
    db.execute("create table lines(line text)")
    db.executemany("insert into lines values (?)", [(line,) for line in lines])
    db.commit()
    db.close()
    print(f"wrote {len(lines)} lines as {os.getpid()}, child of {os.getppid()}")
    return 0


if __name__ == "__main__":
    deltaseal_fork_server.run(main, prepare=prepare)
