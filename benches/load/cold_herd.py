#!/usr/bin/env python3
"""A cold herd: N clients ask for one uncached image at the same instant
(asyncio, stdlib only).

    cold_herd.py --url http://127.0.0.1:PORT/v2/images/ID --token T [-n 200]

All N connections are opened first; then every request is written in one
tight loop, so they reach the proxy within a few milliseconds. Each
client's latency runs from its write to the end of its response body.
Prints one JSON line: ok (2xx), statuses, min/median/last latency (ms),
and the send spread (first to last write; Python writes them in turn).
The number of upstream requests it caused is read by run.sh from the
sample's counter.
"""
import argparse
import asyncio
import json
import time
import urllib.parse


async def read_response(reader):
    """Status of one HTTP/1.1 response; reads its body (Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def one(conn, request, go, timeout):
    reader, writer = conn
    await go.wait()
    started = time.monotonic()  # this client's own send time
    writer.write(request)
    try:
        status = await asyncio.wait_for(read_response(reader), timeout)
    except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        status = 0  # socket error or timeout
    elapsed = time.monotonic() - started
    writer.close()
    return status, elapsed, started


async def herd(url, token, n, timeout):
    u = urllib.parse.urlsplit(url)
    request = (
        f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
        f"X-Auth-Token: {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    conns = await asyncio.gather(
        *(asyncio.open_connection(u.hostname, u.port) for _ in range(n))
    )
    go = asyncio.Event()
    tasks = [asyncio.create_task(one(c, request, go, timeout)) for c in conns]
    await asyncio.sleep(0.05)  # every task is parked on `go`
    go.set()
    return await asyncio.gather(*tasks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    results = asyncio.run(herd(args.url, args.token, args.n, args.timeout))
    statuses = {}
    for status, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    lat = sorted(s * 1000 for _, s, _ in results)
    sends = [t for _, _, t in results]
    print(json.dumps({
        "clients": args.n,
        "ok": sum(1 for s, _, _ in results if 200 <= s < 300),
        "statuses": statuses,
        "min_ms": round(lat[0], 1),
        "median_ms": round(lat[len(lat) // 2], 1),
        "last_ms": round(lat[-1], 1),  # the slowest client, from its own send
        "send_spread_ms": round((max(sends) - min(sends)) * 1000, 1),
    }))


if __name__ == "__main__":
    main()
