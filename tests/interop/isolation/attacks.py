#!/usr/bin/env python3
"""Isolation attacks: one caller misbehaves through the proxy while another
reads its images through the same proxy; the reader must not notice (run by
tests/interop/isolation/run.sh with the Keystone venv's python; needs only
`requests`).

  attacks.py seed-plain --glance URL --state FILE
      For a Glance without keystonemiddleware (tests/interop/identities.py
      tokens): two private images of project-a and one public image, all
      active, written to FILE as the reader's and the attacker's tokens and
      the image ids.

  attacks.py run --attack NAME --stack plain|keystone --state FILE
                 --proxy URL --admin URL [--glance-log LOG] [--keystone-log LOG]
                 [--validation-ttl SECONDS]
      One attack against a fresh proxy. With --stack keystone, FILE is
      tests/interop/keystone/check.py's seed state; the reader is alice
      (proj-a), the attacker bob (proj-b), with tokens issued now.

Attacks (each bounded in count, and in time: ATTACK_LIMIT seconds,
garbage-tokens GARBAGE_LIMIT):
  anon-ff-5, anon-ff-500  GET /v2/images/%ff without credentials, 5 times
      (sequentially) / 500 times (4 connections)
  size-min-500            GET /v2/images?size_min=99999999999999999999999
      by the authenticated attacker (Glance answers 500), 200 times over 4
      connections
  unread-body             requests whose body uWSGI never reads: a GET with
      a body to /v2/images/<id> and a POST with a body to an unknown path,
      200 in all, 64 and 256 KiB bodies, 2 connections
  garbage-tokens          (proxy with [identity]) 150 distinct garbage
      tokens, each sent twice, at concurrency 50

The reader, all along and for TAIL seconds after the attack, a round every
READ_PAUSE seconds: its cached image (filled before the attack) and its
uncached image (purged through the admin API before every read, so every
read of it goes to Glance). Target
behaviour, checked: the reader gets 200 for every read (no 502, 503, 504,
no dropped connection) and /readyz on the admin port answers 200 throughout;
for garbage-tokens, the proxy's Keystone validations (imgcache_token_
validations_total) stay within one per distinct token (plus the reader's
token once per validation_ttl).

Prints one PASS/FAIL line per attack (INFO lines with what was seen);
exits 1 if it failed.
"""

import argparse
import base64
import collections
import concurrent.futures
import json
import os
import re
import sys
import threading
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))              # rawhttp, identities
sys.path.insert(0, os.path.join(HERE, "..", "keystone"))  # check: Keystone, seeding helpers
import check  # noqa: E402
import identities  # noqa: E402
import rawhttp  # noqa: E402

TIMEOUT = 30        # one request
TAIL = 3.0          # the reader goes on this long after the attack
MIN_READS = 20      # reader rounds at least, however short the attack
# Between two reader rounds. A reader that never pauses would put a success
# between any two of the attacker's failures; a real tenant reads now and
# then, and what it must not see is the proxy still failing it afterwards.
READ_PAUSE = 0.1
ATTACK_LIMIT = 30   # seconds: an attack stops sending after this, whatever its count
VALIDATIONS_METRIC = check.VALIDATIONS_METRIC
GARBAGE_TOKENS = 150
GARBAGE_ROUNDS = 2
GARBAGE_CONCURRENCY = 50
# Each garbage request costs Keystone two validations (the proxy's and
# keystonemiddleware's in Glance), some 0.2-0.8 s each on 2 busy cores.
GARBAGE_LIMIT = 120
OVERFLOW = "99999999999999999999999"
TOKEN_GET = re.compile(r"\] GET /v3/auth/tokens(\?\S*)? =>")
HTTP_STATUS = re.compile(r"\(HTTP/1\.1 (\d{3})\)")


def session():
    s = requests.Session()
    s.trust_env = False  # loopback only
    return s


# --- seeding (no keystonemiddleware) -------------------------------------------

def seed_plain(args):
    glance = args.glance.rstrip("/")
    a, admin = identities.token("a"), identities.token("admin")
    state = {
        "stack": "plain",
        "reader_token": a,
        "attacker_token": identities.token("b"),
        "cached": check.create_active_image(glance, a, "isolation-cached", "private"),
        "uncached": check.create_active_image(glance, a, "isolation-uncached", "private"),
        "public": check.create_active_image(glance, admin, "isolation-public", "public"),
    }
    with open(args.state, "w") as f:
        json.dump(state, f, indent=2)
    print(f"seed: {state}")


def load_state(args):
    with open(args.state) as f:
        state = json.load(f)
    if args.stack == "plain":
        return state
    ks = check.Keystone(state["keystone"])
    return {
        "stack": "keystone",
        "keystone": ks,
        "reader_token": ks.issue("alice", check.PASSWORDS["alice"], "proj-a")[0],
        "attacker_token": ks.issue("bob", check.PASSWORDS["bob"], "proj-b")[0],
        "cached": state["private"][0],
        "uncached": state["private"][1],
        "public": state["public"],
    }


# --- observers ------------------------------------------------------------------

class Reader(threading.Thread):
    """The other tenant: reads its cached and its uncached image in rounds
    until stopped (and MIN_READS rounds at least); every answer but 200 is
    an error, counted by status or exception name."""

    def __init__(self, proxy, admin, token, cached, uncached):
        super().__init__(daemon=True)
        self.proxy, self.admin, self.token = proxy, admin, token
        self.images = {"cached": cached, "uncached": uncached}
        self.stop = threading.Event()
        self.round_done = threading.Event()  # set after every round
        self.rounds = 0
        self.reads = collections.Counter()
        self.errors = collections.Counter()
        self.slowest = 0.0
        self.http = session()

    def read(self, kind):
        started = time.monotonic()
        try:
            r = self.http.get(f"{self.proxy}/v2/images/{self.images[kind]}", timeout=TIMEOUT,
                              headers={"X-Auth-Token": self.token})
            outcome = r.status_code
        except requests.RequestException as e:
            outcome = type(e).__name__
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.reads[kind] += 1
        if outcome != 200:
            self.errors[f"{kind} {outcome}"] += 1

    def run(self):
        while not self.stop.is_set() or self.rounds < MIN_READS:
            self.read("cached")
            try:
                self.http.delete(f"{self.admin}/cache/images/{self.images['uncached']}", timeout=TIMEOUT)
            except requests.RequestException as e:
                self.errors[f"admin purge {type(e).__name__}"] += 1
            self.read("uncached")
            self.rounds += 1
            self.round_done.set()
            self.stop.wait(READ_PAUSE)

    def between_rounds(self):
        """Returns just after the reader finished a round (it then pauses
        READ_PAUSE): an attack started now is not diluted by a read of the
        reader's own that happens to fall between its first requests."""
        self.round_done.clear()
        self.round_done.wait(TIMEOUT)

    def summary(self):
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        return (f"reader: {sum(self.reads.values())} reads ({self.reads['cached']} cached, "
                f"{self.reads['uncached']} uncached), errors {errors}, slowest {self.slowest:.2f} s")


class Readiness(threading.Thread):
    """Polls the admin port's /readyz every 50 ms until stopped."""

    def __init__(self, admin):
        super().__init__(daemon=True)
        self.admin = admin
        self.stop = threading.Event()
        self.answers = collections.Counter()
        self.first_bad = ""
        self.http = session()

    def run(self):
        while not self.stop.wait(0.05):
            try:
                r = self.http.get(f"{self.admin}/readyz", timeout=TIMEOUT)
                outcome = r.status_code
                if outcome != 200 and not self.first_bad:
                    self.first_bad = r.text[:200]
            except requests.RequestException as e:
                outcome = type(e).__name__
            self.answers[outcome] += 1

    def bad(self):
        return sum(n for outcome, n in self.answers.items() if outcome != 200)

    def summary(self):
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items(), key=str))
        return f"/readyz: {answers}" + (f" (first non-200: {self.first_bad})" if self.first_bad else "")


# --- attackers ------------------------------------------------------------------

def raw_loop(proxy, jobs, deadline):
    """Sends (method, path, lines, body) jobs on one keep-alive connection,
    opening a new one whenever the proxy closes it; {outcome: count}."""
    seen = collections.Counter()
    conn = None
    for method, path, lines, body in jobs:
        if time.monotonic() > deadline:
            seen["not sent (time limit)"] += 1
            continue
        try:
            if conn is None:
                conn = rawhttp.RawConnection(proxy, timeout=TIMEOUT)
            response = conn.request(method, path, lines, body)
            seen[response.status] += 1
            if (response.header("Connection") or "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, rawhttp.ConnectionDropped) as e:
            seen[type(e).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    return seen


def in_parallel(n, fn):
    """Runs fn(i) for i in range(n) on n threads; their counters added up."""
    total = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        for seen in pool.map(fn, range(n)):
            total.update(seen)
    return total


def attack_anon_ff(ctx, count, connections):
    jobs = [("GET", "/v2/images/%ff", [], None)] * (count // connections)
    return in_parallel(connections, lambda _: raw_loop(ctx.proxy, jobs, ctx.deadline))


def attack_size_min(ctx):
    token = ctx.state["attacker_token"]
    jobs = [("GET", f"/v2/images?size_min={OVERFLOW}", [("X-Auth-Token", token)], None)] * 50
    return in_parallel(4, lambda _: raw_loop(ctx.proxy, jobs, ctx.deadline))


def attack_unread_body(ctx):
    token = [("X-Auth-Token", ctx.state["attacker_token"]), ("Content-Type", "application/json")]
    jobs = []
    # uWSGI answers before reading the body and closes: a body the socket
    # buffers cannot take (64 KiB and more) is then cut off with a reset.
    for i in range(50):
        size = 64 * 1024 if i % 2 == 0 else 256 * 1024
        body = b"x" * size
        jobs.append(("GET", f"/v2/images/{ctx.state['public']}", token, body))
        jobs.append(("POST", f"/v2/no-such-thing-{i}", token, body))
    return in_parallel(2, lambda _: raw_loop(ctx.proxy, jobs, ctx.deadline))


def garbage_token():
    # Shaped like a Fernet token (the version byte, then base64url), never valid.
    return "gAAAAAB" + base64.urlsafe_b64encode(os.urandom(150)).decode().rstrip("=")


def attack_garbage_tokens(ctx):
    tokens = [garbage_token() for _ in range(GARBAGE_TOKENS)]
    ctx.distinct_tokens = len(tokens)
    jobs = [t for _ in range(GARBAGE_ROUNDS) for t in tokens]
    seen = collections.Counter()
    lock = threading.Lock()
    local = threading.local()
    path = f"/v2/images/{ctx.state['public']}"

    def send(tok):
        if time.monotonic() > ctx.deadline:
            outcome = "not sent (time limit)"
        else:
            if not hasattr(local, "http"):
                local.http = session()
            try:
                outcome = local.http.get(f"{ctx.proxy}{path}", headers={"X-Auth-Token": tok},
                                         timeout=TIMEOUT).status_code
            except requests.RequestException as e:
                outcome = type(e).__name__
        with lock:
            seen[outcome] += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=GARBAGE_CONCURRENCY) as pool:
        list(pool.map(send, jobs))
    return seen


ATTACKS = {
    "anon-ff-5": ("GET /v2/images/%ff x5 without credentials", lambda ctx: attack_anon_ff(ctx, 5, 1)),
    "anon-ff-500": ("GET /v2/images/%ff x500 without credentials", lambda ctx: attack_anon_ff(ctx, 500, 4)),
    "size-min-500": (f"GET /v2/images?size_min={OVERFLOW} x200 (4 connections) as the other tenant",
                     attack_size_min),
    "unread-body": ("GET/POST with 64-256 KiB bodies uWSGI does not read x200", attack_unread_body),
    "garbage-tokens": (f"{GARBAGE_TOKENS} garbage tokens x{GARBAGE_ROUNDS} at concurrency {GARBAGE_CONCURRENCY}",
                       attack_garbage_tokens),
}


# --- upstream-side counts -----------------------------------------------------------

def validations(admin):
    """The proxy's token validations so far, summed over results: {label: n}."""
    text = session().get(f"{admin}/metrics", timeout=TIMEOUT).text
    values = {}
    for line in text.splitlines():
        if line.startswith(VALIDATIONS_METRIC + "{"):
            labels, _, value = line.rpartition(" ")
            values[labels[len(VALIDATIONS_METRIC):]] = float(value)
    return values


def line_count(path):
    if not path or not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def new_lines(path, start):
    if not path or not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return [l.decode("latin-1") for i, l in enumerate(f) if i >= start]


# --- one attack ---------------------------------------------------------------------

class Context:
    def __init__(self, args, state):
        self.proxy = args.proxy.rstrip("/")
        self.admin = args.admin.rstrip("/")
        self.state = state
        self.deadline = 0.0
        self.distinct_tokens = 0


def run(args):
    state = load_state(args)
    ctx = Context(args, state)
    title, attack = ATTACKS[args.attack]
    label = f"[{args.stack}] {args.attack}"
    reader = Reader(ctx.proxy, ctx.admin, state["reader_token"], state["cached"], state["uncached"])
    # Before the attack: the reader's cached image is in the cache, /readyz is 200.
    reader.read("cached")
    reader.read("cached")
    if reader.errors:
        print(f"FAIL {label}: the reader cannot read before any attack: {reader.summary()}")
        return 1
    reader.reads.clear()
    ready = Readiness(ctx.admin)
    before_validations = validations(ctx.admin)
    glance_start, keystone_start = line_count(args.glance_log), line_count(args.keystone_log)

    reader.start()
    ready.start()
    reader.between_rounds()
    started = time.monotonic()
    limit = GARBAGE_LIMIT if args.attack == "garbage-tokens" else ATTACK_LIMIT
    ctx.deadline = started + limit
    sent = attack(ctx)
    attack_secs = time.monotonic() - started
    time.sleep(TAIL)  # an observation window: does the reader recover, or stay shut out?
    reader.stop.set()
    ready.stop.set()
    reader.join(ATTACK_LIMIT)
    ready.join(TIMEOUT)

    after = validations(ctx.admin)
    made = sum(after.values()) - sum(before_validations.values())
    by_result = {k: after[k] - before_validations.get(k, 0) for k in after if after[k] != before_validations.get(k, 0)}
    sent_text = ", ".join(f"{k}: {v}" for k, v in sorted(sent.items(), key=str))
    print(f"INFO {label}: {title}: attacker got {sent_text} in {attack_secs:.1f} s")
    print(f"INFO {label}: {reader.summary()}")
    print(f"INFO {label}: {ready.summary()}")
    glance_lines = new_lines(args.glance_log, glance_start)
    statuses = collections.Counter(l.split()[-1] for l in glance_lines if len(l.split()) == 3)
    print(f"INFO {label}: Glance answered {len(glance_lines)} requests meanwhile, by status "
          f"{dict(sorted(statuses.items()))}; proxy token validations {made:.0f} {by_result}")
    if args.keystone_log:
        # uWSGI's request lines: "... GET /v3/auth/tokens[?nocatalog] => generated ... (HTTP/1.1 404)".
        ks = [l for l in new_lines(args.keystone_log, keystone_start) if TOKEN_GET.search(l)]
        by_status = collections.Counter(m.group(1) for l in ks for m in [HTTP_STATUS.search(l)] if m)
        print(f"INFO {label}: Keystone answered {len(ks)} token validations meanwhile, by status "
              f"{dict(sorted(by_status.items()))} (the proxy's, ?nocatalog, and keystonemiddleware's in Glance)")

    problems = []
    if reader.errors:
        problems.append(f"the reader got {sum(reader.errors.values())} errors "
                        f"({', '.join(f'{k}: {v}' for k, v in sorted(reader.errors.items()))})")
    if ready.bad():
        problems.append(f"/readyz answered non-200 {ready.bad()} of {sum(ready.answers.values())} times")
    # At most one validation per distinct token, and the reader's token
    # once per validation_ttl (it expires from the proxy's memory that often).
    allowed = ctx.distinct_tokens + int((time.monotonic() - started) / args.validation_ttl) + 2
    if args.attack == "garbage-tokens" and made > allowed:
        problems.append(f"the proxy made {made:.0f} token validations for {ctx.distinct_tokens} distinct "
                        f"garbage tokens sent {GARBAGE_ROUNDS} times each (at most {allowed} expected)")
    if sent.get("not sent (time limit)"):
        print(f"INFO {label}: the attack stopped at its {limit} s limit")
    if problems:
        print(f"FAIL {label}: " + "; ".join(problems))
        return 1
    print(f"PASS {label}: the reader saw nothing of it ({reader.summary()})")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed-plain")
    s.add_argument("--glance", required=True)
    s.add_argument("--state", required=True)
    r = sub.add_parser("run")
    r.add_argument("--attack", required=True, choices=sorted(ATTACKS))
    r.add_argument("--stack", required=True, choices=["plain", "keystone"])
    r.add_argument("--state", required=True)
    r.add_argument("--proxy", required=True)
    r.add_argument("--admin", required=True)
    r.add_argument("--glance-log")
    r.add_argument("--keystone-log")
    r.add_argument("--validation-ttl", type=float, default=2.0,
                   help="the proxy's [identity] validation_ttl, in seconds")
    args = p.parse_args()
    if args.cmd == "seed-plain":
        seed_plain(args)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
