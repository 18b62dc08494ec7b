#!/usr/bin/env python3
"""A minimal model of imgcache's AK/SK handling, to test check.py --proxy.

Not a proxy anyone should run: one upstream connection per request, no
streaming, no limits. It exists so that the proxy checks are known to pass
against something that does what imgcache is meant to do (run.sh runs them
against it first); a check that fails against imgcache but passes here
points at imgcache, not at the harness.

What it does, as imgcache should:
* A request signed (SDK-HMAC-SHA256) with an Access key it holds, whose
  signature and X-Sdk-Date (15 min) verify, is "verified": image reads
  (GET /v2/images/{id}, no query) are cached per (image, Access key,
  X-Project-Id, X-Security-Token); misses and everything else go upstream
  signed again with the same key for the upstream's Host and a new date.
  Writes to an image drop its entries before and after forwarding.
* Any other signed request (unknown key, bad signature, stale date,
  unparseable) goes upstream byte-for-byte with its own Host, is never
  stored and never answered from the cache.
* Admin listener: GET /metrics with imgcache_signed_requests_total{result}.

    reference_proxy.py --upstream http://127.0.0.1:U --credentials FILE --only AK [--only AK …]

prints {"port": P, "admin_port": A} on one stdout line once both listen.
"""

import argparse
import http.client
import json
import re
import signal
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from huaweicloudsdkcore.sdk_request import SdkRequest

import fixtures
import sdkverify

TTL = 300
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length"}
IMAGE_READ = re.compile(r"^/v2/images/([^/?]+)$")
IMAGE_WRITE = re.compile(r"^/v2/images/([^/?]+)(/.*)?$")


class State:
    def __init__(self, upstream, keys):
        self.upstream = urlsplit(upstream)
        self.keys = keys
        self.lock = threading.Lock()
        self.cache = {}  # (image_id, identity...) -> (expires, status, headers, body)
        self.metric = Counter()

    def invalidate(self, image_id):
        with self.lock:
            for key in [k for k in self.cache if k[0] == image_id]:
                del self.cache[key]


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see upstream.py

    def log_message(self, fmt, *args):
        sys.stderr.write(f"reference-proxy: {fmt % args}\n")

    def do_request(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = list(self.headers.items())
        verdict = None
        if (self.headers.get("Authorization") or "").startswith(sdkverify.ALGORITHM):
            verdict = sdkverify.verify(self.command, self.path, headers, body,
                                       lambda ak: (state.keys.get(ak) or {}).get("sk"))
            with state.lock:
                state.metric[verdict.result] += 1
        if verdict is None or not verdict.ok:
            # Unverifiable: exactly as received, Host included.
            self.relay(self.forward(self.path, headers, body), "fwd=bypass")
            return

        path = self.path
        read = IMAGE_READ.match(path) if self.command == "GET" else None
        write = IMAGE_WRITE.match(path) if self.command not in ("GET", "HEAD") else None
        if read:
            lower = {k.lower(): v for k, v in headers}
            key = (read.group(1), verdict.ak, lower.get("x-project-id"), lower.get("x-security-token"))
            with state.lock:
                entry = state.cache.get(key)
            if entry and entry[0] > time.monotonic():
                self.relay(entry[1:], f"hit; ttl={int(entry[0] - time.monotonic())}")
                return
            response = self.forward(*self.resign(verdict, headers, body))
            stored = response[0] == 200 and _is_image(response[2], read.group(1))
            if stored:
                with state.lock:
                    state.cache[key] = (time.monotonic() + TTL,) + response
            self.relay(response, "fwd=miss; stored" if stored else "fwd=miss")
            return
        if write:
            state.invalidate(write.group(1))
        response = self.forward(*self.resign(verdict, headers, body))
        if write:
            state.invalidate(write.group(1))
        self.relay(response, "fwd=uri-miss")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_request

    def resign(self, verdict, headers, body):
        """The request signed again, with the same key, for the upstream."""
        state = self.server.state
        signed = set(verdict.signed_headers) - {"host", "x-sdk-date", "authorization"}
        to_sign = {k: sdkverify.wire_to_text(v) for k, v in headers if k.lower() in signed}
        path, _, query = self.path.partition("?")
        request = SdkRequest(method=self.command, schema="http", host=state.upstream.netloc, resource_path=path,
                             query_params=sdkverify.parse_query(query), header_params=to_sign, body=body or None)
        sdkverify.signer_for(verdict.ak, state.keys[verdict.ak]["sk"]).sign(request)
        rest = [(k, v) for k, v in headers
                if k.lower() not in signed | {"host", "x-sdk-date", "authorization"}]
        return request.uri, rest + list(request.header_params.items()), body

    def forward(self, target, headers, body):
        upstream = self.server.state.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP], resp.read()
        finally:
            conn.close()

    def relay(self, response, cache_status):
        status, headers, body = response
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("server", "date"):
                self.send_header(name, value)
        self.send_header("Cache-Status", f"imgcache; {cache_status}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class AdminHandler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with self.server.state.lock:
            lines = [f'{fixtures.SIGNED_METRIC}{{{fixtures.SIGNED_METRIC_LABEL}="{r}"}} {n}'
                     for r, n in sorted(self.server.state.metric.items())]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _is_image(body, image_id):
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("id") == image_id


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler, state):
        super().__init__(("127.0.0.1", 0), handler)
        self.state = state


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--credentials", required=True, help="JSON file: {AK: {sk, project_id}}")
    parser.add_argument("--only", action="append", required=True, metavar="AK", help="an Access key the proxy holds")
    args = parser.parse_args()
    with open(args.credentials, encoding="utf-8") as f:
        table = json.load(f)
    state = State(args.upstream, {ak: table[ak] for ak in args.only})
    servers = [Server(ProxyHandler, state), Server(AdminHandler, state)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"port": servers[0].server_address[1], "admin_port": servers[1].server_address[1]}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


if __name__ == "__main__":
    main()
