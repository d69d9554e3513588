#!/usr/bin/env python3
"""A fork-server that lies (ForkServerTests): it answers every write with a pid that is not its
child (its first argument: "parent" for its own parent, the supervisor; a number otherwise), after a
reply that is not JSON and one for a request that does not exist, and forks nothing."""
import json
import os
import socket
import sys

if "--fork-server" not in sys.argv:
    sys.exit(1)
channel = socket.socket(fileno=os.dup(0))
target = sys.argv[1]
pid = os.getppid() if target == "parent" else int(target)
channel.send(json.dumps({"ready": True, "protocol": 1}).encode())
while True:
    data, fds, _, _ = socket.recv_fds(channel, 1 << 20, 8)
    if not data:
        sys.exit(0)
    for fd in fds:
        os.close(fd)
    request = json.loads(data)
    if request.get("op") != "write":
        continue
    channel.send(b"\xff not json {")
    channel.send(json.dumps({"id": "no-such-request", "pid": 1}).encode())
    channel.send(json.dumps({"id": request["id"], "pid": pid}).encode())
    channel.send(json.dumps({"id": request["id"], "exit": 0}).encode())
