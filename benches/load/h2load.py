#!/usr/bin/env python3
"""run.sh's helper for the second load generator, h2load (Debian's
nghttp2-client), which run.sh did not write: the URI files it is fed and
the parsing of what it prints. Stdlib only.

    h2load.py uris DIR --hot N --images N --zipf-s S --every N
                       --miss-base N [--lines N] [--seed N]
        writes DIR/uris-{uniform,zipf,mixed}.txt and prints how many
        fresh ids the mixed file uses.
    h2load.py parse FILE
        prints h2load's output FILE as one JSON object.

The ids are workload.lua's, 00000000-0000-4000-8000-{i:012x}:

- uniform: ids 0..HOT-1, uniformly, LINES of them drawn with a fixed seed;
- zipf: Zipf(s=S) over ids 0..IMAGES-1, P(rank k) ~ 1/k^s, rank 1 = id 0,
  the same inverse-CDF rule as workload.lua (the first k with cdf[k] >= u);
- mixed: as uniform, except that every EVERY-th line is a fresh id, from
  MISS_BASE on, each used once in the file (EVERY = 50: 2% of the lines).

h2load has no script: each client (connection) walks the whole file in
order from its first line, and all of them start together. So in the
mixed file a "miss" id is read by every client that gets that far, at
about the same time: the first read is a miss, the others are collapsed
onto it or are hits. h2load's mixed figure is therefore NOT 2% true
misses; run.sh counts the upstream requests of each run and the report
gives the real miss ratio (upstream requests / requests).

The URIs are written against http://127.0.0.1 (no port); run.sh points
h2load at the proxy under test with -B (base URI), so one file per
workload serves every proxy.
"""
import argparse
import bisect
import json
import random
import re
import sys

HOST = "http://127.0.0.1"


def image_id(i):
    return f"00000000-0000-4000-8000-{i:012x}"


def uri(i):
    return f"{HOST}/v2/images/{image_id(i)}\n"


def zipf_sampler(rng, n, s):
    cdf, total = [], 0.0
    for k in range(1, n + 1):
        total += 1.0 / (k ** s)
        cdf.append(total)
    # bisect_left: the first index whose cdf >= u; index 0 = rank 1 = id 0.
    return lambda: min(bisect.bisect_left(cdf, rng.random() * total), n - 1)


def write_uris(a):
    fresh = 0
    for kind in ("uniform", "zipf", "mixed"):
        # One fixed seed per file: every run (and every proxy) reads the
        # same sequence.
        rng = random.Random(f"{a.seed}-{kind}")
        if kind == "zipf":
            draw = zipf_sampler(rng, a.images, a.zipf_s)
        else:
            draw = lambda: rng.randrange(a.hot)  # noqa: E731
        lines = []
        for j in range(1, a.lines + 1):
            if kind == "mixed" and j % a.every == 0:
                lines.append(uri(a.miss_base + fresh))
                fresh += 1
            else:
                lines.append(uri(draw()))
        with open(f"{a.dir}/uris-{kind}.txt", "w") as f:
            f.writelines(lines)
    print(fresh)


UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def to_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"not a duration: {text}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse(path):
    text = open(path).read()

    def need(pattern):
        m = re.search(pattern, text, re.M)
        if not m:
            raise SystemExit(f"h2load.py: no match for {pattern!r} in h2load's output:\n{text}")
        return m

    m = need(r"^finished in ([0-9.]+)(us|ms|s), ([0-9.]+) req/s")
    duration_us = float(m.group(1)) * UNITS[m.group(2)]
    h2load_rps = float(m.group(3))
    m = need(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
             r"(\d+) errored, (\d+) timeout")
    total, started, done, succeeded, failed, errored, timeout = (int(v) for v in m.groups())
    m = need(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
    s2, s3, s4, s5 = (int(v) for v in m.groups())
    m = need(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)")
    lat_min, lat_max, lat_mean, lat_sd = (to_us(v) for v in m.groups())
    m = re.search(r"^traffic: .*\((\d+)\) total", text, re.M)
    # errors: the requests that did not get a 2xx. h2load's "failed"
    # already includes "errored" (network level, streams reset) and every
    # non-2xx/3xx status (see h2load(1), OUTPUT); a 3xx counts as
    # "succeeded" there, so it is added; the plain sum failed + errored +
    # non-2xx would count a 4xx or a reset stream twice.
    errors = failed + s3
    print(json.dumps({
        "requests": done, "duration_us": int(duration_us), "h2load_rps": h2load_rps,
        "bytes": int(m.group(1)) if m else None,
        "h2load_total": total, "started": started, "succeeded": succeeded, "failed": failed,
        "errored": errored, "timeout": timeout,
        "status_2xx": s2, "status_3xx": s3, "status_4xx": s4, "status_5xx": s5,
        "errors": errors,
        # h2load gives min/max/mean/sd of "time for request", no percentiles.
        "min_us": lat_min, "max_us": lat_max, "mean_us": lat_mean, "sd_us": lat_sd,
        "p50_us": None, "p99_us": None, "p999_us": None,
    }))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("uris")
    u.add_argument("dir")
    u.add_argument("--hot", type=int, required=True)
    u.add_argument("--images", type=int, required=True)
    u.add_argument("--zipf-s", type=float, required=True)
    u.add_argument("--every", type=int, required=True)
    u.add_argument("--miss-base", type=int, required=True)
    u.add_argument("--lines", type=int, default=131072)
    u.add_argument("--seed", type=int, default=22)
    p = sub.add_parser("parse")
    p.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "uris":
        write_uris(a)
    else:
        parse(a.file)


if __name__ == "__main__":
    sys.exit(main())
