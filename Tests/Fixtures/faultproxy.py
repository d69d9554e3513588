#!/usr/bin/env python3
"""An HTTP/1.1 fault-injection proxy between DeltaSeal and a real S3 server (tests only).

Usage: faultproxy.py UPSTREAM_HOST:PORT  -> prints the port it listens on (127.0.0.1), then serves.

Faults are rules set with `POST /__faults` (a JSON list); `GET /__faults` returns how many of
each were injected. A rule: {"action": ..., "method": "PUT", "contains": "partNumber", "times": 1}
(`method` and `contains`, a substring of the request target, are optional filters). With
"probability": p the rule fires on that fraction of matching requests, without a count limit
unless "times" is also given.
Actions:
  status_503   answer 503 SlowDown without forwarding (connection closed)
  reset_body   forward the head and half the body, then reset both connections
  stall        read the request, send nothing for `seconds` (default 60), close
  flip_byte    forward; flip one byte in the middle of the response body (a rotten object)
  reset_response  forward; send the response head and half its body, then reset the client
  drop_response   forward the request; reset the client instead of answering (the answer is lost)
  expired_token   answer 400 ExpiredToken without forwarding (the session token "expired")
  status_403      answer 403 AccessDenied without forwarding
Each request is logged to stderr as `METHOD TARGET LENGTH range=RANGE -> ACTION`.
"""
import json
import random
import signal
import socket
import struct
import sys
import threading
import time

rules = []
counts = {}
lock = threading.Lock()


def take_rule(method, target):
    with lock:
        for rule in rules:
            unlimited = "probability" in rule and "times" not in rule
            if not unlimited and rule.get("times", 1) == 0:
                continue
            if rule.get("method") and rule["method"] != method:
                continue
            if rule.get("contains") and rule["contains"] not in target:
                continue
            if "probability" in rule and random.random() >= rule["probability"]:
                continue
            if not unlimited:
                rule["times"] = rule.get("times", 1) - 1
            counts[rule["action"]] = counts.get(rule["action"], 0) + 1
            return dict(rule)
    return None


class Closed(Exception):
    pass


def recv_into(sock, buf):
    chunk = sock.recv(1 << 16)
    if not chunk:
        raise Closed()
    return buf + chunk


def read_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        buf = recv_into(sock, buf)
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return head + b"\r\n\r\n", lines[0].decode("latin-1"), headers, rest


def read_exact(sock, buf, n):
    while len(buf) < n:
        buf = recv_into(sock, buf)
    return buf[:n], buf[n:]


def read_chunked(sock, buf):
    body = b""
    while True:
        while b"\r\n" not in buf:
            buf = recv_into(sock, buf)
        line, buf = buf.split(b"\r\n", 1)
        size = int(line.split(b";")[0], 16)
        body += line + b"\r\n"
        data, buf = read_exact(sock, buf, size + 2)
        body += data
        if size == 0:
            # Trailers end with an empty line; data already holds the CRLF after the last chunk.
            return body, buf


def reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def respond(client, status, reason, body, close=False):
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nContent-Type: application/xml\r\n"
    if close:
        head += "Connection: close\r\n"
    client.sendall(head.encode() + b"\r\n" + body)


def handle(client, upstream_address):
    upstream = None
    buf = b""
    try:
        while True:
            head, start, headers, buf = read_head(client, buf)
            method, target = start.split(" ")[0], start.split(" ")[1]
            length = int(headers.get("content-length", "0"))
            if target.startswith("/__faults"):
                body, buf = read_exact(client, buf, length)
                global rules
                with lock:
                    if method == "POST":
                        rules = json.loads(body or b"[]")
                        counts.clear()
                    answer = json.dumps(counts).encode()
                respond(client, 200, "OK", answer)
                continue
            rule = take_rule(method, target)
            action = rule["action"] if rule else None
            print(f"{method} {target} {length} range={headers.get('range', '-')} -> {action or 'forward'}", file=sys.stderr, flush=True)
            canned = {
                "status_503": (503, "Slow Down", b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"),
                "expired_token": (400, "Bad Request",
                                  b"<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>"),
                "status_403": (403, "Forbidden", b"<Error><Code>AccessDenied</Code><Message>injected</Message></Error>"),
            }
            if action in canned:
                if headers.get("expect", "").lower() != "100-continue":
                    _, buf = read_exact(client, buf, length)  # answered before the body would be sent otherwise
                status, reason, body = canned[action]
                respond(client, status, reason, body, close=True)
                client.close()
                return
            if upstream is None:
                upstream = socket.create_connection(upstream_address)
            if headers.get("expect", "").lower() == "100-continue":
                # Answer the client's Expect here and forward the request without it.
                head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"expect:"))
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            upstream.sendall(head)
            if action == "stall":
                time.sleep(rule.get("seconds", 60))
                reset(client)
                return
            body, buf = read_exact(client, buf, length)
            if action == "reset_body":
                upstream.sendall(body[: len(body) // 2])
                reset(upstream)
                reset(client)
                return
            upstream.sendall(body)
            rhead, rstatus, rheaders, rest = read_head(upstream, b"")
            if action == "drop_response":
                time.sleep(0.2)  # let the upstream finish the request
                reset(client)
                return
            while " 100 " in rstatus + " ":
                client.sendall(rhead)
                rhead, rstatus, rheaders, rest = read_head(upstream, rest)
            client.sendall(rhead)
            if not forward_response(upstream, client, method, rstatus, rheaders, rest, action):
                return
    except (Closed, ConnectionError, OSError):
        pass
    finally:
        client.close()
        if upstream is not None:
            upstream.close()


def forward_response(upstream, client, method, status, headers, rest, action):
    """Forwards a response body; returns False if the connection must end."""
    code = int(status.split(" ")[1])
    if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
        body = b""
    elif "content-length" in headers:
        body, rest = read_exact(upstream, rest, int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body, rest = read_chunked(upstream, rest)
    else:
        body = rest
        try:
            while True:
                body = recv_into(upstream, body)
        except Closed:
            pass
        client.sendall(body)
        return False
    if action == "reset_response" and body:
        client.sendall(body[: len(body) // 2])
        reset(client)
        return False
    if action == "flip_byte" and code == 200 and body and "content-length" in headers:
        middle = len(body) // 2
        body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]
    client.sendall(body)
    return headers.get("connection", "").lower() != "close"


def main():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    host, port = sys.argv[1].rsplit(":", 1)
    if len(sys.argv) > 2:
        # A seed makes the probabilistic rules draw the same sequence (requests still arrive in
        # the order the clients send them).
        random.seed(int(sys.argv[2]))
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    print(server.getsockname()[1], flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, (host, int(port))), daemon=True).start()


if __name__ == "__main__":
    main()
