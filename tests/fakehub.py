#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub on 127.0.0.1, for imp-chat's download tests.

It serves one model folder (--root) under several repository ids, each with a behaviour to test:

  MILVLG/imp-v1-3b  the folder; the first transfer of the first shard drops the connection half-way
  test/gated        needs "Authorization: Bearer secret-token": 401 without a token, 403 with another
  test/wrong-hash   the tree lists a wrong SHA-256 for the last shard
  test/slow         the first shard trickles out slowly unless asked for with Range (for Ctrl-C)
  test/flaky        the revision API answers 503 once and config.json 429 once (Retry-After: 1)
  test/norange      Range headers are ignored (200 with the whole file)
  test/range416     Range requests are refused with 416
  anything else     404, as for a repository that does not exist

Like the hub: GET /api/models/{id}/revision/{rev} gives the commit and "siblings";
GET /api/models/{id}/tree/{rev} gives path, size, oid and, for LFS files (*.safetensors), "lfs" with
the SHA-256; GET /{id}/resolve/{rev}/{name} serves small files directly and redirects (302) LFS files
to /cdn/..., which honours Range with 206. Revisions: "main" and the commit.

Every request is appended to --log as "GET PATH range=RANGE status=CODE"; the chosen port is written
to --port-file once the server listens.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "3f2a9d4c1b0e8f7a6d5c4b3a29180716f5e4d3c2"
TOKEN = "secret-token"
REPOS = {"MILVLG/imp-v1-3b", "test/gated", "test/wrong-hash", "test/slow", "test/flaky",
         "test/norange", "test/range416"}
# listed by the API but never needed by imp-chat
EXTRA_FILES = {"README.md": b"# imp-tiny\n", ".gitattributes": b"*.safetensors filter=lfs\n",
               "modeling_imp.py": b"# code\n"}


class Hub:
    def __init__(self, root, log_path):
        self.files = dict(EXTRA_FILES)
        for name in sorted(os.listdir(root)):
            with open(os.path.join(root, name), "rb") as f:
                self.files[name] = f.read()
        self.log_path = log_path
        self.lock = threading.Lock()
        self.counts = {}

    def first(self, key):
        """True the first time key is seen."""
        with self.lock:
            n = self.counts.get(key, 0)
            self.counts[key] = n + 1
            return n == 0

    def log(self, line):
        with self.lock, open(self.log_path, "a") as f:
            f.write(line + "\n")

    @staticmethod
    def is_lfs(name):
        return name.endswith(".safetensors")

    def tree(self, repo):
        entries = [{"type": "directory", "oid": "0" * 40, "size": 0, "path": "images"}]
        for name, data in sorted(self.files.items()):
            git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            e = {"type": "file", "oid": git, "size": len(data), "path": name}
            if self.is_lfs(name):
                sha = hashlib.sha256(data).hexdigest()
                if repo == "test/wrong-hash" and name == self.shards()[-1]:
                    sha = hashlib.sha256(data + b"x").hexdigest()
                e["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
            entries.append(e)
        return entries

    def shards(self):
        return sorted(n for n in self.files if self.is_lfs(n))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub = None

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body=b"", headers=None, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.hub.log("GET %s range=%s status=%d" % (self.path, self.headers.get("Range", "-"), code))

    def error(self, code, message, error_code=None):
        headers = {"X-Error-Message": message}
        if error_code:
            headers["X-Error-Code"] = error_code
        self.send(code, json.dumps({"error": message}).encode(), headers)

    def authorized(self, repo):
        """For test/gated: send 401/403 and return False when the token is missing or wrong."""
        if repo != "test/gated":
            return True
        auth = self.headers.get("Authorization")
        if auth is None:
            self.error(401, "Access to model test/gated is restricted. You must be authenticated.",
                       "GatedRepo")
            return False
        if auth != "Bearer " + TOKEN:
            self.error(403, "Access to model test/gated is restricted and you are not in the "
                            "authorized list.", "GatedRepo")
            return False
        return True

    def do_GET(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def route(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/(.+)", path)
        if m:
            return self.api(m.group(1), m.group(2), m.group(3))
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/([^/]+)", path)
        if m:
            return self.resolve(m.group(1), m.group(2), m.group(3))
        m = re.fullmatch(r"/cdn/([^/]+)/([0-9a-f]{64})/([^/]+)", path)
        if m:
            return self.cdn(m.group(1).replace("--", "/"), m.group(3))
        self.error(404, "Not found")

    def known(self, repo, rev):
        if repo not in REPOS:
            self.error(404, "Repository not found", "RepoNotFound")
            return False
        if rev not in ("main", COMMIT):
            self.error(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
            return False
        return self.authorized(repo)

    def api(self, repo, kind, rev):
        if not self.known(repo, rev):
            return
        if repo == "test/flaky" and kind == "revision" and self.hub.first("flaky-api"):
            return self.error(503, "Service temporarily unavailable")
        if kind == "revision":
            siblings = [{"rfilename": n} for n in sorted(self.hub.files)]
            siblings.append({"rfilename": "images/logo.png"})
            body = {"_id": "0" * 24, "id": repo, "modelId": repo, "sha": COMMIT,
                    "private": repo == "test/gated", "siblings": siblings}
        else:
            body = self.hub.tree(repo)
        self.send(200, json.dumps(body).encode())

    def resolve(self, repo, rev, name):
        if not self.known(repo, rev):
            return
        if name not in self.hub.files:
            return self.error(404, "Entry not found", "EntryNotFound")
        if repo == "test/flaky" and name == "config.json" and self.hub.first("flaky-config"):
            return self.send(429, b'{"error": "Too many requests"}', {"Retry-After": "1"})
        data = self.hub.files[name]
        if Hub.is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            where = "/cdn/%s/%s/%s" % (repo.replace("/", "--"), sha, name)
            return self.send(302, b"", {"Location": where, "X-Repo-Commit": COMMIT,
                                        "X-Linked-Size": str(len(data)), "X-Linked-Etag": sha})
        self.body(repo, name, data)

    def cdn(self, repo, name):
        if repo not in REPOS or name not in self.hub.files:
            return self.error(404, "Not found")
        self.body(repo, name, self.hub.files[name])

    def body(self, repo, name, data):
        """Send data, honouring Range (bytes=N-), with each repository's faults."""
        rng = self.headers.get("Range")
        start = 0
        if rng and repo == "test/range416":
            return self.send(416, b"", {"Content-Range": "bytes */%d" % len(data)})
        if rng and repo != "test/norange":
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            if not m or int(m.group(1)) >= len(data):
                return self.send(416, b"", {"Content-Range": "bytes */%d" % len(data)})
            start = int(m.group(1))
        part = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(part)))
        self.send_header("ETag", '"%s"' % hashlib.sha256(data).hexdigest())
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        self.hub.log("GET %s range=%s status=%d" % (self.path, rng or "-", 206 if start else 200))
        if (repo == "MILVLG/imp-v1-3b" and name == self.hub.shards()[0] and not rng and
                self.hub.first("drop")):
            # a connection lost half-way: the client must resume with a Range request
            self.wfile.write(part[:len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if repo == "test/slow" and name == self.hub.shards()[0] and not rng:
            for i in range(0, len(part), 32768):
                self.wfile.write(part[i:i + 32768])
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.wfile.write(part)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the model folder to serve")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    Handler.hub = Hub(args.root, args.log)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
