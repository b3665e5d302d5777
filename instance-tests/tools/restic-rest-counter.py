#!/usr/bin/env python3
"""A minimal restic REST server (protocol v2) that counts what restic asks of its storage.

Used to measure what one poll of the control channel costs (docs/runtime.md, "Backing up on
demand"): every HTTP request restic makes is one storage operation, which maps onto an S3 or
B2 transaction class (GET/HEAD of a file = B2 class B, a listing = class C, writes and deletes
= class A, free). Not a production server: no authentication, no TLS, loopback only.

    restic-rest-counter.py DIR PORT     serve the repository folder DIR on 127.0.0.1:PORT
    GET  /_counts                       the counts so far, as JSON; DELETE /_counts resets them
"""
import http.server
import json
import os
import sys
import threading
from collections import Counter

ROOT = sys.argv[1]
PORT = int(sys.argv[2])
TYPES = {"data", "keys", "locks", "snapshots", "index"}
counts = Counter()
lock = threading.Lock()


def path_of(kind, name):
    if kind == "data":
        return os.path.join(ROOT, "data", name[:2], name)
    return os.path.join(ROOT, kind, name)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def count(self, op):
        with lock:
            counts[op] += 1

    def reply(self, code, body=b"", ctype="application/octet-stream", head=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def parts(self):
        p = self.path.split("?")[0].strip("/").split("/")
        return [x for x in p if x]

    def do_GET(self, head=False):
        p = self.parts()
        if p == ["_counts"]:
            with lock:
                return self.reply(200, json.dumps(counts).encode(), "application/json")
        if p == ["config"]:
            self.count(("HEAD" if head else "GET") + " config")
            f = os.path.join(ROOT, "config")
        elif len(p) == 1 and p[0] in TYPES:
            self.count("LIST " + p[0])
            d = os.path.join(ROOT, p[0])
            files = []
            for dirpath, _, names in os.walk(d):
                for n in names:
                    files.append({"name": n, "size": os.path.getsize(os.path.join(dirpath, n))})
            return self.reply(200, json.dumps(files).encode(),
                              "application/vnd.x.restic.rest.v2")
        elif len(p) == 2 and p[0] in TYPES:
            self.count(("HEAD " if head else "GET ") + p[0])
            f = path_of(p[0], p[1])
        else:
            return self.reply(404)
        if not os.path.exists(f):
            return self.reply(404, head=head)
        with open(f, "rb") as fh:
            data = fh.read()
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and not head:
            start, _, end = rng[6:].partition("-")
            start = int(start)
            end = int(end) if end else len(data) - 1
            body = data[start:end + 1]
            self.send_response(206)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Range", f"bytes {start}-{start + len(body) - 1}/{len(data)}")
            self.end_headers()
            self.wfile.write(body)
            return
        if head:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return
        self.reply(200, data)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_POST(self):
        p = self.parts()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if p == [] and "create=true" in self.path:
            for t in TYPES:
                os.makedirs(os.path.join(ROOT, t), exist_ok=True)
            for i in range(256):
                os.makedirs(os.path.join(ROOT, "data", f"{i:02x}"), exist_ok=True)
            return self.reply(200)
        if p == ["config"]:
            f = os.path.join(ROOT, "config")
        elif len(p) == 2 and p[0] in TYPES:
            f = path_of(p[0], p[1])
            os.makedirs(os.path.dirname(f), exist_ok=True)
        else:
            return self.reply(404)
        self.count("PUT " + (p[0] if len(p) == 2 else "config"))
        with open(f + ".tmp", "wb") as fh:
            fh.write(body)
        os.rename(f + ".tmp", f)
        self.reply(200)

    def do_DELETE(self):
        p = self.parts()
        if p == ["_counts"]:
            with lock:
                counts.clear()
            return self.reply(200)
        if len(p) == 2 and p[0] in TYPES:
            self.count("DELETE " + p[0])
            try:
                os.remove(path_of(p[0], p[1]))
            except FileNotFoundError:
                return self.reply(404)
            return self.reply(200)
        self.reply(404)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
