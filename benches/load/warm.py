#!/usr/bin/env python3
"""Reads every image of a range once through a proxy (stdlib only).

    warm.py --url http://127.0.0.1:PORT --count N [--first 0] [--token T]
            [--conns 8]

Used to fill a cache before a measured run and for the 100k-entry RSS
measurement. Ids are the sample's generated ones. Prints one JSON line:
requests, 2xx count, statuses, body bytes (the sum of the bodies, i.e. what
a cache of these entries holds), seconds. Exit 1 if any request was not 200.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def image_id(i):
    return f"00000000-0000-4000-8000-{i:012x}"


def worker(host, port, token, ids, result, lock):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    statuses, body_bytes = {}, 0
    headers = {"X-Auth-Token": token}
    for i in ids:
        for attempt in range(3):  # a dropped keep-alive connection is retried
            try:
                conn.request("GET", f"/v2/images/{image_id(i)}", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                if attempt == 2:
                    raise
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        body_bytes += len(body)
    conn.close()
    with lock:
        for status, n in statuses.items():
            result["statuses"][status] = result["statuses"].get(status, 0) + n
        result["body_bytes"] += body_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--token", default="bench:project-a:member")
    ap.add_argument("--conns", type=int, default=8)
    args = ap.parse_args()
    url = urllib.parse.urlsplit(args.url)
    ids = list(range(args.first, args.first + args.count))
    result = {"statuses": {}, "body_bytes": 0}
    lock = threading.Lock()
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=worker,
            args=(url.hostname, url.port, args.token, ids[k :: args.conns], result, lock),
        )
        for k in range(args.conns)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = result["statuses"].get(200, 0)
    print(json.dumps({
        "requests": len(ids),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(result["statuses"].items())},
        "body_bytes": result["body_bytes"],
        "seconds": round(time.monotonic() - started, 3),
    }))
    sys.exit(0 if ok == len(ids) else 1)


if __name__ == "__main__":
    main()
