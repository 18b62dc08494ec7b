#!/usr/bin/env python3
"""Turns the raw results of run.sh into one table, a markdown report and an
SVG chart (stdlib only).

    report.py OUT_DIR

Reads OUT_DIR/meta.json, runs.jsonl (one line per wrk or h2load run: its
"generator"; a line without one is wrk's), and if present cold.jsonl,
file.jsonl, rss100k.json, warnings.txt. Writes OUT_DIR/results.md and
OUT_DIR/chart.svg (wrk's runs) and prints the markdown to stdout. When
h2load ran too (run.sh --generator h2load|both), its tables come next to
wrk's, and summary_h2load.json beside summary.json.

Every figure of a proxy is the median over the rounds; ratios are the
median of the per-round ratios (each round's runs are back to back, so a
per-round ratio cancels much of a noisy machine's drift). Ratios are given
against HAProxy (the fastest peer in every run so far), the ceiling and
nginx, for requests/s and for the proxy's CPU time per request.
"""
import json
import os
import statistics
import sys
from html import escape

ORDER = ["imgcache", "imgcache-log", "nginx", "varnish", "haproxy", "ceiling"]
PEERS = ["nginx", "varnish", "haproxy"]
COLORS = {"imgcache": "#d62728", "imgcache-log": "#ff7f0e", "nginx": "#2ca02c", "varnish": "#1f77b4",
          "haproxy": "#9467bd", "ceiling": "#7f7f7f", "direct": "#7f7f7f"}
WORKLOAD_TITLES = {
    "uniform": "uniform over 1,000 hot ids",
    "zipf": "Zipf(s=1) over 10,000 ids",
    "mixed": "mixed: 2% misses, 98% hits",
}
# Section headings of the per-workload tables.
WORKLOAD_HEADINGS = {
    "uniform": "Cache hits — uniform over 1,000 hot ids",
    "zipf": "Cache hits — Zipf(s=1) over 10,000 ids",
    "mixed": "Mixed — keep-alive connections, every 50th request a miss (a never-read id), "
             "the rest hits uniform over 1,000 hot ids",
}
PROXY_NAMES = {"imgcache": "**imgcache**", "imgcache-log": "imgcache, access log on (default)", "nginx": "nginx", "varnish": "Varnish",
               "haproxy": "HAProxy", "ceiling": "ceiling"}


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ms(us):
    return None if us is None else us / 1000


def generator(r):
    return r.get("generator", "wrk")


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def summarize(runs, h2load=False):
    """{workload: {proxy: summary}} from the per-run records (of one
    generator; h2load=True adds h2load's own figures)."""
    out = {}
    workloads = sorted({r["workload"] for r in runs}, key=lambda w: list(WORKLOAD_TITLES).index(w) if w in WORKLOAD_TITLES else 9)
    for w in workloads:
        by_round = {}
        for r in runs:
            if r["workload"] == w:
                by_round.setdefault(r["round"], {})[r["proxy"]] = r
        proxies = [p for p in ORDER if any(p in rr for rr in by_round.values())]
        table = {}
        for p in proxies:
            mine = [rr[p] for rr in by_round.values() if p in rr]

            def ratios(ref, key="rps"):
                return [rr[p][key] / rr[ref][key] for rr in by_round.values()
                        if p in rr and ref in rr and rr[ref].get(key) and rr[p].get(key) is not None]

            def ratio_best_peer():
                vals = []
                for rr in by_round.values():
                    peers = [rr[q]["rps"] for q in PEERS if q in rr and q != p]
                    if p in rr and peers:
                        vals.append(rr[p]["rps"] / max(peers))
                return vals

            table[p] = {
                "rounds": len(mine),
                "rps": med([r["rps"] for r in mine]),
                "rps_min": min(r["rps"] for r in mine),
                "rps_max": max(r["rps"] for r in mine),
                "p50_ms": med([ms(r.get("p50_us")) for r in mine]),
                "p99_ms": med([ms(r.get("p99_us")) for r in mine]),
                "p999_ms": med([ms(r.get("p999_us")) for r in mine]),
                "errors": sum(r["errors"] for r in mine),
                "requests": sum(r["requests"] for r in mine),
                "upstream_max": max((r["upstream"] for r in mine if r.get("upstream") is not None), default=None),
                "cpu_us": med([r.get("cpu_us_per_req") for r in mine]),
                "rss_mib": med([r["rss_kb"] / 1024 for r in mine]),
                "pss_mib": med([r["pss_kb"] / 1024 for r in mine]),
                "x_nginx": med(ratios("nginx")),
                "x_haproxy": med(ratios("haproxy")),
                "x_ceiling": med(ratios("ceiling")),
                "x_best_peer": med(ratio_best_peer()),
                "cpu_x_haproxy": med(ratios("haproxy", "cpu_us_per_req")),
                "cpu_x_ceiling": med(ratios("ceiling", "cpu_us_per_req")),
                "upstream_med": med([r.get("upstream") for r in mine]),
                "misses_med": med([r.get("sent_misses") for r in mine]),
                "upstream_cpu_us": med([r.get("upstream_cpu_us_per_req") for r in mine]),
                "hit_path": {k: med([r["hit_path"].get(k) for r in mine if "hit_path" in r])
                             for k in ("responses", "exchanges", "handoffs")}
                if any("hit_path" in r for r in mine) else None,
            }
            if h2load:
                # What h2load measures instead of percentiles, and its
                # mixed workload's real miss ratio.
                table[p].update(
                    mean_ms=med([ms(r.get("mean_us")) for r in mine]),
                    sd_ms=med([ms(r.get("sd_us")) for r in mine]),
                    max_ms=med([ms(r.get("max_us")) for r in mine]),
                    miss_ratio=med([r.get("miss_ratio") for r in mine]))
        out[w] = table
    return out


def load_table(w, table):
    mixed = w == "mixed"
    upstream_head = "misses sent / upstream req (median/run)" if mixed else "upstream req (max/run)"
    lines = [
        f"### {WORKLOAD_HEADINGS.get(w, w)}",
        "",
        f"| proxy | req/s | req/s min–max | p50 ms | p99 ms | p99.9 ms | CPU µs/req | errors | {upstream_head} "
        "| RSS MiB | PSS MiB | × HAProxy | × ceiling | × nginx | CPU × HAProxy | CPU × ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p, s in table.items():
        if mixed:
            upstream = f"{fmt(s['misses_med'])} / {fmt(s['upstream_med'])}"
        else:
            upstream = "-" if p == "ceiling" else fmt(s["upstream_max"])
        lines.append(
            f"| {p} | {fmt(s['rps'])} | {fmt(s['rps_min'])}–{fmt(s['rps_max'])} | "
            f"{fmt(s['p50_ms'], 2)} | {fmt(s['p99_ms'], 2)} | {fmt(s['p999_ms'], 2)} | {fmt(s['cpu_us'], 1)} | "
            f"{s['errors']} | {upstream} | {fmt(s['rss_mib'], 1)} | {fmt(s['pss_mib'], 1)} | "
            f"{fmt(s['x_haproxy'], 2)} | {fmt(s['x_ceiling'], 2)} | {fmt(s['x_nginx'], 2)} | "
            f"{fmt(s['cpu_x_haproxy'], 2)} | {fmt(s['cpu_x_ceiling'], 2)} |"
        )
    me = table.get("imgcache")
    if me and me.get("hit_path"):
        hp = me["hit_path"]
        lines += ["", f"imgcache's hit path per run (medians): {fmt(hp['responses'])} hits answered on it, "
                      f"{fmt(hp['exchanges'])} exchanges (a request hyper answered on a connection the hit "
                      f"path then took back), {fmt(hp['handoffs'])} connections handed to hyper for good."]
    if mixed:
        up = [f"{p} {fmt(s['upstream_cpu_us'], 1)}" for p, s in table.items() if s.get("upstream_cpu_us") is not None]
        if up:
            lines += ["", "The sample's (upstream's) own CPU µs per request of the run, not in the proxies' "
                          "figures: " + ", ".join(up) + "."]
    return lines


H2LOAD_HEADINGS = {
    "uniform": "h2load — uniform over 1,000 hot ids",
    "zipf": "h2load — Zipf(s=1) over 10,000 ids",
    "mixed": "h2load — mixed: every 50th line of the URI file a fresh id, the rest uniform over 1,000 hot ids",
}


def h2load_table(w, table, meta):
    """One workload's h2load runs: what h2load measures (no percentiles)."""
    mixed = w == "mixed"
    upstream_head = "upstream req (median/run) / real miss ratio" if mixed else "upstream req (max/run)"
    lines = [f"### {H2LOAD_HEADINGS.get(w, 'h2load — ' + w)}", ""]
    if mixed:
        lines += [
            f"Every h2load client walks the same URI file in order, all starting together, so each fresh id "
            f"(one line in {meta.get('miss_every', 50)}) is read by every client that gets that far, at about "
            "the same time: the first read is a miss, the others are collapsed onto it or are hits. This is "
            "not 2% true misses: the real miss ratio is the upstream requests / requests of the run "
            "(the ceiling stores nothing, so its misses are all the fresh-id reads).", ""]
    lines += [
        f"| proxy | req/s | req/s min–max | mean ms | sd ms | max ms | CPU µs/req | errors | {upstream_head} "
        "| RSS MiB | × HAProxy | × ceiling | CPU × HAProxy | CPU × ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p, s in table.items():
        if mixed:
            ratio = "-" if s["miss_ratio"] is None else f"{s['miss_ratio'] * 100:.2f}%"
            upstream = f"{fmt(s['upstream_med'])} / {ratio}"
        else:
            upstream = "-" if p == "ceiling" else fmt(s["upstream_max"])
        lines.append(
            f"| {p} | {fmt(s['rps'])} | {fmt(s['rps_min'])}–{fmt(s['rps_max'])} | "
            f"{fmt(s['mean_ms'], 2)} | {fmt(s['sd_ms'], 2)} | {fmt(s['max_ms'], 2)} | {fmt(s['cpu_us'], 1)} | "
            f"{s['errors']} | {upstream} | {fmt(s['rss_mib'], 1)} | "
            f"{fmt(s['x_haproxy'], 2)} | {fmt(s['x_ceiling'], 2)} | "
            f"{fmt(s['cpu_x_haproxy'], 2)} | {fmt(s['cpu_x_ceiling'], 2)} |"
        )
    return lines


def side_by_side(wrk, h2):
    """req/s, its ratios, CPU µs/req and its ratio to the ceiling, both
    generators in adjacent columns, per workload and proxy."""
    if not h2:
        return []
    lines = [
        "### Two load generators side by side — wrk (workload.lua) and h2load (URI files, same ids)",
        "",
        "Medians; × = median of the per-round ratios, each generator's runs against its own HAProxy "
        "and ceiling runs. h2load's mixed workload is not wrk's (see its table for the real miss ratio).",
        "",
        "| workload | proxy | req/s wrk | req/s h2load | × HAProxy wrk | × HAProxy h2load | × ceiling wrk "
        "| × ceiling h2load | CPU µs/req wrk | CPU µs/req h2load | CPU × ceiling wrk | CPU × ceiling h2load |",
        "|---|---|" + "---:|" * 10,
    ]
    for w in ordered_workloads(list(wrk) + list(h2)):
        a, b = wrk.get(w, {}), h2.get(w, {})
        for p in ORDER:
            if p not in a and p not in b:
                continue
            x, y = a.get(p, {}), b.get(p, {})
            cells = []
            for key, digits in (("rps", 0), ("x_haproxy", 2), ("x_ceiling", 2), ("cpu_us", 1), ("cpu_x_ceiling", 2)):
                cells += [fmt(x.get(key), digits), fmt(y.get(key), digits)]
            lines.append(f"| {WORKLOAD_TITLES.get(w, w)} | {p} | " + " | ".join(cells) + " |")
    return lines


def ordered_workloads(names):
    order = list(WORKLOAD_TITLES)
    return sorted(set(names), key=lambda w: order.index(w) if w in order else 9)


def headline(summary):
    """The figures the issue's targets are about, one row per workload."""
    if not any("imgcache" in t for t in summary.values()):
        return []
    peers = [p for p in ORDER if any(p in t for t in summary.values())]
    lines = [
        "### Headline (medians; × = median of the per-round ratios)",
        "",
        "| workload | imgcache req/s | HAProxy req/s | × HAProxy | imgcache CPU µs/req | HAProxy CPU µs/req "
        "| CPU × HAProxy | ceiling CPU µs/req | CPU × ceiling | "
        + " | ".join(f"p99 ms {PROXY_NAMES[p]}" for p in peers) + " |",
        "|---|" + "---:|" * (8 + len(peers)),
    ]
    for w, t in summary.items():
        me, ha, ce = t.get("imgcache"), t.get("haproxy") or {}, t.get("ceiling") or {}
        if not me:
            continue
        lines.append(
            f"| {WORKLOAD_TITLES.get(w, w)} | {fmt(me['rps'])} | {fmt(ha.get('rps'))} | {fmt(me['x_haproxy'], 2)} | "
            f"{fmt(me['cpu_us'], 1)} | {fmt(ha.get('cpu_us'), 1)} | {fmt(me['cpu_x_haproxy'], 2)} | "
            f"{fmt(ce.get('cpu_us'), 1)} | {fmt(me['cpu_x_ceiling'], 2)} | "
            + " | ".join(fmt(t[p]["p99_ms"], 2) if p in t else "-" for p in peers) + " |")
    return lines


def targets(w, table):
    """imgcache's targets on this workload, as PASS/FAIL lines: the current
    issue's first, then the earlier ones (hit workloads only)."""
    me = table.get("imgcache")
    if not me:
        return []
    out = [f"Targets, {w}:"]

    def line(ok, text):
        out.append(f"- {'PASS' if ok else 'FAIL'} {text}")

    haproxy, ceiling_ = table.get("haproxy"), table.get("ceiling")
    if w in ("mixed", "zipf") and me["x_haproxy"] is not None:
        line(me["x_haproxy"] >= 1.15, f"req/s ≥ 1.15 × HAProxy: {me['x_haproxy']:.2f} "
             f"({fmt(me['rps'])} vs {fmt(haproxy['rps'])})")
    if w == "mixed" and me["cpu_x_haproxy"] is not None:
        line(me["cpu_x_haproxy"] <= 0.75, f"CPU µs/req ≤ 0.75 × HAProxy's: {me['cpu_x_haproxy']:.2f} "
             f"({me['cpu_us']:.1f} vs {haproxy['cpu_us']:.1f})")
    every = {p: table[p]["p99_ms"] for p in PEERS if p in table}
    if every:
        line(me["p99_ms"] < min(every.values()),
             f"p99 lowest of all peers: {me['p99_ms']:.2f} ms vs "
             + ", ".join(f"{p} {v:.2f}" for p, v in every.items())
             + (f" (ceiling {ceiling_['p99_ms']:.2f})" if ceiling_ else ""))
    if me["cpu_x_ceiling"] is not None:
        line(me["cpu_x_ceiling"] <= 1.3, f"CPU µs/req ≤ 1.3 × the ceiling's: {me['cpu_x_ceiling']:.2f} "
             f"({me['cpu_us']:.1f} vs {ceiling_['cpu_us']:.1f})")
    if w == "mixed":
        return out
    out += ["", f"Earlier targets, {w}:"]

    if me["x_ceiling"] is not None:
        line(me["x_ceiling"] >= 0.85, f"req/s ≥ 0.85 × ceiling: {me['x_ceiling']:.2f}")
    if me["x_best_peer"] is not None:
        line(me["x_best_peer"] >= 1.15, f"req/s ≥ 1.15 × fastest peer: {me['x_best_peer']:.2f}")
    if me["x_nginx"] is not None:
        line(me["x_nginx"] >= 1.7, f"req/s ≥ 1.7 × nginx: {me['x_nginx']:.2f}")
    nginx, ceiling = table.get("nginx"), table.get("ceiling")
    if nginx and ceiling and nginx["x_ceiling"] and nginx["x_ceiling"] * 1.7 > 1:
        out.append(f"- note: nginx reached {nginx['x_ceiling']:.2f} × the ceiling here, so 1.7 × nginx "
                   f"would be {nginx['x_ceiling'] * 1.7:.2f} × the ceiling: above what this machine served")
    return out


def warm_lines(warm):
    """The proxies' CPU per miss and per hit at the warm-up's pace."""
    if not warm:
        return []
    n = warm[0].get("requests", 0)
    lines = [
        f"CPU per miss: each round's warm-up reads {n:,} never-read ids (all misses), then reads them "
        "again (all hits), over 8 keep-alive connections from one Python client — far from saturating "
        "the proxy, so both cost more per request than under wrk; the difference is what a miss adds. "
        "The proxy's CPU time over each pass / reads; medians over the rounds.",
        "",
        "| proxy | CPU µs per miss | CPU µs per hit, same pace | a miss adds µs |",
        "|---|---:|---:|---:|",
    ]
    for p in ORDER:
        mine = [r for r in warm if r["proxy"] == p and "cpu_us_per_miss" in r]
        if not mine:
            continue
        miss = med([r["cpu_us_per_miss"] for r in mine])
        hit = med([r.get("cpu_us_per_slow_hit") for r in mine])
        extra = med([r["cpu_us_per_miss"] - r["cpu_us_per_slow_hit"] for r in mine
                     if r.get("cpu_us_per_slow_hit") is not None])
        lines.append(f"| {PROXY_NAMES[p]} | {fmt(miss)} | {fmt(hit)} | {fmt(extra)} |")
    return lines


def cold_table(cold):
    if not cold:
        return []
    lines = [
        "### Cold herd — 200 concurrent requests for one uncached image, upstream latency 200 ms",
        "",
        "| proxy | upstream requests | last waiter ms | median ms | min ms | send spread ms | 2xx of 200 | reps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in ORDER:
        mine = [c for c in cold if c["proxy"] == p]
        if not mine:
            continue
        lines.append(
            f"| {p} | {fmt(med([c['upstream'] for c in mine]))} | {fmt(med([c['last_ms'] for c in mine]), 0)} | "
            f"{fmt(med([c['median_ms'] for c in mine]), 0)} | {fmt(med([c['min_ms'] for c in mine]), 0)} | "
            f"{fmt(med([c['send_spread_ms'] for c in mine]), 0)} | "
            f"{min(c['ok'] for c in mine)} | {len(mine)} |"
        )
    return lines


def file_table(files):
    if not files:
        return []
    size = files[0].get("bytes", 0)
    lines = [
        f"### Pass-through — one {size / (1 << 30):.0f} GiB download (`GET /v2/images/{{id}}/file`)",
        "",
        "| via | MiB/s | seconds | RSS before MiB | RSS peak MiB | ok | reps |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for p in ["direct"] + ORDER:
        mine = [f for f in files if f["proxy"] == p]
        if not mine:
            continue
        lines.append(
            f"| {p} | {fmt(med([f['mib_per_s'] for f in mine]))} | {fmt(med([f['seconds'] for f in mine]), 2)} | "
            f"{fmt(med([f['rss_before_kb'] / 1024 for f in mine]), 1)} | "
            f"{fmt(max(f['rss_peak_kb'] for f in mine) / 1024, 1)} | "
            f"{'yes' if all(f['ok'] for f in mine) else 'NO'} | {len(mine)} |"
        )
    return lines


def rss100k_lines(r):
    if not r:
        return []
    growth = r["rss_after_kb"] - r["rss_before_kb"]
    per_entry = growth * 1024 / max(r["entries"], 1)
    return [
        f"### imgcache memory with {r['entries']:,} cached entries",
        "",
        f"- VmRSS before {r['rss_before_kb'] / 1024:.1f} MiB, after {r['rss_after_kb'] / 1024:.1f} MiB: "
        f"growth **{growth / 1024:.1f} MiB** per {r['entries']:,} entries ({per_entry:,.0f} bytes per entry)",
        f"- cached body bytes (sum of bodies): {r['body_bytes'] / (1 << 20):.1f} MiB "
        f"({r['body_bytes'] / max(r['entries'], 1):,.0f} bytes per body); "
        f"overhead over the bodies: {growth * 1024 / max(r['body_bytes'], 1):.2f}×",
        f"- upstream requests during the fill: {r['upstream']:,}; warm-up took {r['seconds']:.1f} s",
    ]


# ---------------------------------------------------------------- chart

def bar_panel(x0, y0, width, height, title, unit, summary, key, digits):
    """One bar chart (groups = workloads, bars = proxies) as SVG elements."""
    els = [f'<text x="{x0 + width / 2}" y="{y0 - 8}" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>']
    values = [s[key] for t in summary.values() for s in t.values() if s.get(key) is not None]
    top = max(values) * 1.15 if values else 1
    els.append(f'<line x1="{x0}" y1="{y0 + height}" x2="{x0 + width}" y2="{y0 + height}" stroke="#333"/>')
    for i in range(5):  # grid lines and axis labels
        v = top * i / 4
        y = y0 + height - height * i / 4
        els.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + width}" y2="{y}" stroke="#ddd"/>')
        els.append(f'<text x="{x0 - 4}" y="{y + 4}" text-anchor="end" font-size="10">{v:,.{digits}f}</text>')
    els.append(f'<text x="{x0 - 62}" y="{y0 + height / 2}" font-size="11" transform="rotate(-90 {x0 - 62} {y0 + height / 2})" text-anchor="middle">{escape(unit)}</text>')
    groups = list(summary.items())
    gw = width / max(len(groups), 1)
    for gi, (w, table) in enumerate(groups):
        proxies = list(table.items())
        bw = gw * 0.8 / max(len(proxies), 1)
        for pi, (p, s) in enumerate(proxies):
            v = s.get(key)
            if v is None:
                continue
            h = height * v / top
            x = x0 + gi * gw + gw * 0.1 + pi * bw
            y = y0 + height - h
            els.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.9:.1f}" height="{h:.1f}" fill="{COLORS.get(p, "#999")}"><title>{escape(p)} {v:,.{digits}f}</title></rect>')
            els.append(f'<text x="{x + bw * 0.45:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">{v:,.{digits}f}</text>')
        els.append(f'<text x="{x0 + gi * gw + gw / 2}" y="{y0 + height + 16}" text-anchor="middle" font-size="11">{escape(WORKLOAD_TITLES.get(w, w))}</text>')
    return els


def chart(summary, meta):
    width, height = 900, 940
    els = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">GET /v2/images/{{id}} — medians of {meta.get("rounds", "?")} round(s), wrk {meta.get("connections", 64)} keep-alive connections</text>',
    ]
    els += bar_panel(80, 60, 780, 220, "requests/s (higher is better)", "req/s", summary, "rps", 0)
    els += bar_panel(80, 360, 780, 220, "p99 latency (lower is better)", "ms", summary, "p99_ms", 2)
    els += bar_panel(80, 660, 780, 220, "proxy CPU µs per request (lower is better)", "µs/req", summary, "cpu_us", 1)
    x = 80
    for p in ORDER:  # legend
        els.append(f'<rect x="{x}" y="{height - 30}" width="12" height="12" fill="{COLORS[p]}"/>')
        els.append(f'<text x="{x + 16}" y="{height - 20}" font-size="12">{p}</text>')
        x += 110
    els.append(f'<text x="{width - 10}" y="{height - 8}" text-anchor="end" font-size="9" fill="#666">{escape(meta.get("machine", ""))}; wrk and proxy share the cores</text>')
    els.append("</svg>")
    return "\n".join(els) + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/bench-load"
    with open(os.path.join(out, "meta.json")) as f:
        meta = json.load(f)
    all_runs = load_jsonl(os.path.join(out, "runs.jsonl"))
    runs = [r for r in all_runs if generator(r) == "wrk"]
    summary = summarize(runs)
    h2summary = summarize([r for r in all_runs if generator(r) == "h2load"], h2load=True)
    md = [
        "# imgcache load benchmark",
        "",
        f"{meta.get('started', '')}; {meta.get('machine', '')}; mode {meta.get('mode', '')}: "
        f"{meta.get('rounds')} round(s) × {meta.get('duration')} s per run, wrk -t{meta.get('threads')} "
        f"-c{meta.get('connections')}, proxies interleaved (order rotated each round); "
        f"{meta.get('workers', '?')} workers/threads per proxy; no proxy logs requests.",
        "",
        f"Command: `{meta['command']}`; imgcache {meta.get('imgcache_rev', '?')}, "
        f"binary {meta.get('imgcache_bin', '?')}." if meta.get("command") else "",
        "",
        "**The load generator (wrk) and the proxy under test share the same cores**; a proxy that "
        "needs less CPU per request leaves more to wrk. Latencies are wrk's (no coordinated-omission "
        "correction). CPU µs/req = the proxy's own processes' user+system CPU time over the run / requests "
        "(steadier than req/s on a noisy machine). errors = wrk socket errors + responses with status ≥ 400. RSS = VmRSS summed "
        "over the proxy's processes (nginx/Varnish workers counted separately, so shared memory counts "
        "more than once); PSS splits shared pages.",
        "",
    ]
    if h2summary:
        md += [
            f"**Second load generator: h2load** ({meta.get('versions', {}).get('h2load', 'h2load')}, "
            f"`h2load --h1 -c{meta.get('connections')} -t{meta.get('threads')} -D {meta.get('duration')} "
            "-i URIFILE`), fed a URI file per workload with the same ids as workload.lua "
            f"({meta.get('h2load_lines', '?'):,} lines drawn with a fixed seed; every client walks the file "
            "in order). It gives min/max/mean/sd of the request time, no percentiles: its tables give the "
            "mean. errors = requests without a 2xx (h2load's failed, which includes errored and "
            "4xx/5xx, + 3xx). CPU µs/req as for wrk. The headline, targets and chart are wrk's.",
            "",
        ]
    md += headline(summary) + [""]
    md += side_by_side(summary, h2summary) + ([""] if h2summary else [])
    for w in ordered_workloads(list(summary) + list(h2summary)):
        if w in summary:
            md += load_table(w, summary[w]) + [""]
        if w in h2summary:
            md += h2load_table(w, h2summary[w], meta) + [""]
        if w == "mixed":
            md += warm_lines(load_jsonl(os.path.join(out, "warm.jsonl"))) + [""]
        if w in summary:
            md += targets(w, summary[w]) + [""]
    md += cold_table(load_jsonl(os.path.join(out, "cold.jsonl"))) + [""]
    md += file_table(load_jsonl(os.path.join(out, "file.jsonl"))) + [""]
    rss_path = os.path.join(out, "rss100k.json")
    if os.path.exists(rss_path):
        with open(rss_path) as f:
            md += rss100k_lines(json.load(f)) + [""]
    warn_path = os.path.join(out, "warnings.txt")
    if os.path.exists(warn_path) and os.path.getsize(warn_path):
        with open(warn_path) as f:
            md += ["### Warnings", ""] + [f"- {line.rstrip()}" for line in f if line.strip()] + [""]
    text = "\n".join(md)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if h2summary:
        with open(os.path.join(out, "summary_h2load.json"), "w") as f:
            json.dump(h2summary, f, indent=1)
    if summary:
        with open(os.path.join(out, "chart.svg"), "w") as f:
            f.write(chart(summary, meta))
    print(text)


if __name__ == "__main__":
    main()
