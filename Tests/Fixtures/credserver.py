#!/usr/bin/env python3
"""A loopback credential endpoint for the credential tests (tests only).

Usage: credserver.py ACCESS_KEY SECRET LIFETIME_SECONDS AUTHORIZATION [SESSION_TOKEN]
  -> prints the port it listens on (127.0.0.1), then serves:

  GET /creds                      container credentials: JSON with AccessKeyId, SecretAccessKey,
                                  Token (if given), Expiration (now + LIFETIME); 401 unless the
                                  Authorization header equals AUTHORIZATION
  GET /federation/credentials?... the SSO portal's GetRoleCredentials: roleCredentials; 401 unless
                                  x-amz-sso_bearer_token equals AUTHORIZATION
  GET /__count                    {"served": N, "refused": M}
"""
import datetime
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

access_key, secret, lifetime, authorization = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
token = sys.argv[5] if len(sys.argv) > 5 else None
counts = {"served": 0, "refused": 0}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/__count":
            with lock:
                return self.answer(200, counts)
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
        if self.path.startswith("/creds"):
            given = self.headers.get("Authorization")
        elif self.path.startswith("/federation/credentials?"):
            given = self.headers.get("x-amz-sso_bearer_token")
        else:
            return self.answer(404, {"message": "no such path"})
        if given != authorization:
            with lock:
                counts["refused"] += 1
            return self.answer(401, {"Code": "Unauthorized", "message": "wrong token"})
        with lock:
            counts["served"] += 1
        if self.path.startswith("/creds"):
            body = {"AccessKeyId": access_key, "SecretAccessKey": secret, "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
            if token:
                body["Token"] = token
        else:
            body = {"roleCredentials": {"accessKeyId": access_key, "secretAccessKey": secret,
                                        "expiration": int(expires.timestamp() * 1000)}}
            if token:
                body["roleCredentials"]["sessionToken"] = token
        self.answer(200, body)

    def log_message(self, format, *args):
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
