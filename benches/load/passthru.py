#!/usr/bin/env python3
"""One large download through a proxy, with the proxy's memory sampled
meanwhile (stdlib only).

    passthru.py --url http://127.0.0.1:PORT/v2/images/ID/file --token T
                --size BYTES [--pid PID ...]

Reads the body into one reused 1 MiB buffer and checks that the first
byte of every chunk follows the sample's file pattern (byte i = i % 251),
so a proxy that drops or repeats data is caught without hashing 1 GiB.
While it reads, a thread samples the summed RSS of the --pid process trees
every 50 ms. Prints one JSON line: bytes, seconds, MiB/s, RSS before and
peak (KiB), ok.
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procmem  # noqa: E402

PERIOD = 251


def sample_rss(pids, stop, peak):
    while not stop.is_set():
        peak[0] = max(peak[0], procmem.measure(pids)["rss_kb"])
        stop.wait(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--pid", type=int, action="append", default=[])
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.url)

    before = procmem.measure(args.pid)["rss_kb"] if args.pid else 0
    peak, stop = [before], threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(args.pid, stop, peak))
    if args.pid:
        sampler.start()

    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    started = time.monotonic()
    conn.request("GET", u.path, headers={"X-Auth-Token": args.token})
    resp = conn.getresponse()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    got, pattern_ok = 0, True
    while True:
        n = resp.readinto(view)
        if not n:
            break
        if buf[0] != got % PERIOD:
            pattern_ok = False
        got += n
    seconds = time.monotonic() - started
    conn.close()
    stop.set()
    if args.pid:
        sampler.join()
    print(json.dumps({
        "status": resp.status,
        "bytes": got,
        "seconds": round(seconds, 3),
        "mib_per_s": round(got / seconds / (1 << 20), 1),
        "rss_before_kb": before,
        "rss_peak_kb": peak[0],
        "ok": resp.status == 200 and got == args.size and pattern_ok,
    }))


if __name__ == "__main__":
    main()
