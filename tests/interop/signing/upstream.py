#!/usr/bin/env python3
"""A fake IMS / Glance v2 that insists on valid AK/SK signatures.

Every request on the API port must carry an SDK-HMAC-SHA256 signature that
huaweicloudsdkcore's own Signer reproduces (sdkverify.py) over the request
exactly as received, Host header included, with an X-Sdk-Date within 15
minutes; anything else gets API Gateway's 401. So a proxy in front of it
passes only if it forwards a client's signed request byte-faithfully (Host
kept) or re-signs it correctly for this host.

API (the caller's project is its Access key's project):
  GET   /v2/images/{id}   200 if public or owned by the caller, else 404
  GET   /v2/images        list visible images; limit, marker, name, visibility,
                          owner, status, id filters
  PATCH /v2/images/{id}   application/openstack-images-v2.1-json-patch;
                          owner only; add/replace/remove of top-level fields

Control port (no auth; for check.py):
  GET  /_stats   {"verified": {"METHOD /path": n}, "rejected": {...},
                  "rejected_by_reason": {...}, "requests": [last requests]}
  POST /_reset   images back to the seed, counters to zero

    upstream.py --credentials creds.json [--port 0] [--control-port 0] [--bench-images N]

--bench-images N adds N generated private images of project A
(fixtures.bench_images) to the seed, for bench.py; default 0.

prints {"api_port": N, "control_port": M} on one stdout line once both
listen (127.0.0.1 only) and runs until SIGTERM/SIGINT.
"""

import argparse
import json
import signal
import sys
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, urlencode

import fixtures
import sdkverify

MAX_LOGGED_REQUESTS = 10000
JSON_PATCH = "application/openstack-images-v2.1-json-patch"
# Fields a JSON patch may not touch (Glance answers 403 for these).
READ_ONLY = {"id", "owner", "status", "created_at", "updated_at", "self", "file", "schema",
             "size", "checksum", "virtual_size", "visibility_changed"}


class State:
    def __init__(self, credentials, max_skew, bench_images=0):
        self.credentials = credentials
        self.max_skew = max_skew
        self.bench_images = bench_images
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.images = fixtures.seed_images(self.bench_images)
            self.verified = Counter()
            self.rejected = Counter()
            self.rejected_by_reason = Counter()
            self.requests = []

    def record(self, method, target, verdict, status):
        path = target.partition("?")[0]
        entry = {
            "method": method,
            "target": target,
            "path": path,
            "host": verdict.host,
            "ak": verdict.ak,
            "x_sdk_date": verdict.x_sdk_date,
            "signed_headers": verdict.signed_headers,
            "result": verdict.result,
            "detail": verdict.detail,
            "status": status,
        }
        with self.lock:
            key = f"{method} {path}"
            if verdict.ok:
                self.verified[key] += 1
            else:
                self.rejected[key] += 1
                self.rejected_by_reason[verdict.result] += 1
            self.requests.append(entry)
            del self.requests[:-MAX_LOGGED_REQUESTS]

    def stats(self):
        with self.lock:
            return {
                "verified": dict(self.verified),
                "rejected": dict(self.rejected),
                "rejected_by_reason": dict(self.rejected_by_reason),
                "requests": list(self.requests),
            }


class Handler(BaseHTTPRequestHandler):
    # Keep-alive like a real gateway: a proxy's connection pool gets reused.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, a keep-alive peer's
    # delayed ACK stalls every response by ~40 ms.
    disable_nagle_algorithm = True
    server_version = "fake-ims/1"

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.server.name}: {self.address_string()} {fmt % args}\n")

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status, payload, extra_headers=()):
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ApiHandler(Handler):
    def do_request(self):
        state = self.server.state
        body = self.read_body()
        verdict = sdkverify.verify(
            self.command, self.path, self.headers.items(), body,
            lookup_sk=lambda ak: (state.credentials.get(ak) or {}).get("sk"),
            max_skew=state.max_skew,
        )
        if not verdict.ok:
            # What API Gateway answers for a failed AK/SK check.
            request_id = uuid.uuid4().hex
            self.log_error("signature check failed: %s (%s) Access=%s Host=%s", verdict.result,
                           verdict.detail, verdict.ak, verdict.host)
            if verdict.canonical_request is not None:
                # The canonical request we expected, to diff against the signer's.
                self.log_error("expected canonical request: %r", verdict.canonical_request)
            state.record(self.command, self.path, verdict, 401)
            self.send_json(401, {
                "error_code": "APIGW.0301",
                "error_msg": f"Incorrect IAM authentication information: {verdict.result}: {verdict.detail}",
                "request_id": request_id,
            }, [("X-Request-Id", request_id)])
            return
        project = state.credentials[verdict.ak]["project_id"]
        claimed = self.headers.get("X-Project-Id")
        if claimed is not None and claimed != project:
            status, payload = 403, ims_error("IMG.0003", f"Access key is not in project {claimed}")
        else:
            try:
                status, payload = self.route(project, body)
            except Exception as e:  # a bug here must show as a 500, not a hang
                self.log_error("route failed: %r", e)
                status, payload = 500, ims_error("IMG.0500", f"internal error: {e!r}")
        state.record(self.command, self.path, verdict, status)
        self.send_json(status, payload, [("X-Request-Id", uuid.uuid4().hex)])

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_request

    def route(self, project, body):
        state = self.server.state
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        if path == "/v2/images" and self.command in ("GET", "HEAD"):
            return self.list_images(project, sdkverify.parse_query(query))
        if len(parts) == 4 and parts[:3] == ["", "v2", "images"]:
            image_id = parts[3]
            with state.lock:
                image = state.images.get(image_id)
                if image is None or not visible(image, project):
                    return 404, ims_error("IMG.0001", f"No image found with ID {image_id}")
                if self.command in ("GET", "HEAD"):
                    return 200, dict(image)
                if self.command == "PATCH":
                    return self.patch_image(image, project, body)
            return 405, ims_error("IMG.0405", f"{self.command} not allowed on an image")
        return 404, ims_error("IMG.0404", f"no such resource: {path}")

    def list_images(self, project, query):
        params = dict(query)
        with self.server.state.lock:
            images = [dict(i) for i in self.server.state.images.values() if visible(i, project)]
        for key in ("name", "visibility", "owner", "status", "id"):
            if key in params:
                images = [i for i in images if i.get(key) == params[key]]
        # Glance's default order: newest first.
        images.sort(key=lambda i: (i["created_at"], i["id"]), reverse=True)
        if "marker" in params:
            ids = [i["id"] for i in images]
            if params["marker"] not in ids:
                return 400, ims_error("IMG.0400", f"marker {params['marker']} not found")
            images = images[ids.index(params["marker"]) + 1:]
        try:
            limit = int(params.get("limit", 25))
        except ValueError:
            return 400, ims_error("IMG.0400", f"bad limit {params['limit']!r}")
        page, more = images[:limit], len(images) > limit
        first_query = urlencode([(k, v) for k, v in query if k != "marker"], quote_via=quote)
        result = {
            "images": page,
            "schema": "/v2/schemas/images",
            "first": "/v2/images" + (f"?{first_query}" if first_query else ""),
        }
        if more and page:
            next_query = urlencode([(k, v) for k, v in query if k != "marker"] + [("marker", page[-1]["id"])],
                                   quote_via=quote)
            result["next"] = f"/v2/images?{next_query}"
        return 200, result

    def patch_image(self, image, project, body):
        # Caller holds state.lock.
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type != JSON_PATCH:
            return 415, ims_error("IMG.0415", f"Content-Type must be {JSON_PATCH}, not {content_type!r}")
        if image["owner"] != project:
            return 403, ims_error("IMG.0003", "only the owner may change an image")
        try:
            ops = json.loads(body)
            if not isinstance(ops, list):
                raise ValueError("a JSON patch is a list")
            updated = dict(image)
            for op in ops:
                field = op["path"].lstrip("/")
                if "/" in field or not field:
                    raise ValueError(f"unsupported path {op['path']!r}")
                if field in READ_ONLY:
                    return 403, ims_error("IMG.0003", f"attribute {field} is read-only")
                if op["op"] in ("add", "replace"):
                    updated[field] = op["value"]
                elif op["op"] == "remove":
                    updated.pop(field, None)
                else:
                    raise ValueError(f"unsupported op {op['op']!r}")
        except (ValueError, KeyError, TypeError) as e:
            return 400, ims_error("IMG.0400", f"bad JSON patch: {e}")
        updated["updated_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        image.clear()
        image.update(updated)
        return 200, dict(image)


class ControlHandler(Handler):
    def do_GET(self):
        if self.path == "/_stats":
            self.send_json(200, self.server.state.stats())
        else:
            self.send_json(404, {"error": "unknown control path"})

    def do_POST(self):
        self.read_body()
        if self.path == "/_reset":
            self.server.state.reset()
            self.send_json(200, {"reset": True})
        else:
            self.send_json(404, {"error": "unknown control path"})


def visible(image, project):
    return image["visibility"] in ("public", "community") or image["owner"] == project


def ims_error(code, message):
    return {"error": {"code": code, "message": message}}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, handler, state, name):
        super().__init__(("127.0.0.1", port), handler)
        self.state = state
        self.name = name


def load_credentials(args):
    table = {}
    if args.credentials:
        with open(args.credentials, encoding="utf-8") as f:
            table.update(json.load(f))
    for spec in args.credential:
        ak, sk, project_id = spec.split(":", 2)
        table[ak] = {"sk": sk, "project_id": project_id}
    if not table:
        sys.exit("upstream.py: no credentials (--credentials FILE or --credential AK:SK:PROJECT)")
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--credentials", help="JSON file: {AK: {sk, project_id}}")
    parser.add_argument("--credential", action="append", default=[], metavar="AK:SK:PROJECT")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--max-skew", type=int, default=900, help="seconds (default 900 = 15 min)")
    parser.add_argument("--bench-images", type=int, default=0, metavar="N",
                        help="add N generated private images of project A (bench.py)")
    args = parser.parse_args()

    state = State(load_credentials(args), timedelta(seconds=args.max_skew), args.bench_images)
    api = Server(args.port, ApiHandler, state, "api")
    control = Server(args.control_port, ControlHandler, state, "control")
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (api, control)]
    for t in threads:
        t.start()
    print(json.dumps({"api_port": api.server_address[1], "control_port": control.server_address[1]}), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    for s in (api, control):
        s.shutdown()
        s.server_close()


if __name__ == "__main__":
    main()
