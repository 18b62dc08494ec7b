#!/usr/bin/env python3
"""Keystone side of the interop harness (run by tests/interop/keystone/run.sh
with the Keystone venv's python; needs only `requests`).

  check.py seed  --keystone URL --glance URL --admin-password PW --state FILE
      Creates, through the Keystone and Glance APIs, the projects proj-a,
      proj-b and service, the users alice + carol (members of proj-a), bob
      (member of proj-b) and glance (service role on project service, the
      identity keystonemiddleware validates tokens with), and the images:
      four private to proj-a (uploaded by alice, so `active`) and one public
      image (admin). Writes everything the checks need to FILE.

  check.py run --direct|--proxy --target URL --state FILE --request-log LOG
               [--admin URL] [--validation-ttl SECONDS] [--share user|project]
      --direct: TARGET is Glance itself (keystonemiddleware in front): proves
      the harness (token issuing, bob's 404, revocation, garbage tokens).
      --proxy: TARGET is imgcache in front of that Glance, with [identity]
      pointing at the same Keystone: new tokens of one user + project + roles
      share entries; nothing else does. LOG is Glance's uWSGI request log
      ("METHOD URI STATUS" lines) from which the upstream's GETs are counted.

Prints one PASS/FAIL/SKIP/INFO line per check; exits 1 if any check failed.
"""

import argparse
import json
import os
import sys
import time
import traceback
import uuid

import requests

# The proxy's token-validation counter (admin /metrics), by result label.
VALIDATIONS_METRIC = "imgcache_token_validations_total"

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "glance": "glance-pw"}
N_PRIVATE = 4
RUNS = 20
HIT_RATIO_MIN = 0.95
TIMEOUT = 30


class CheckFailed(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def session():
    s = requests.Session()
    s.trust_env = False  # loopback only: never through an HTTP proxy named in the environment
    return s


HTTP = session()


# --- Keystone ---------------------------------------------------------------

class Keystone:
    def __init__(self, url):
        self.url = url.rstrip("/")  # the v3 root, e.g. http://127.0.0.1:5000/v3

    def issue(self, user, password, project, domain="default"):
        """A new project-scoped token (password method): (token, body)."""
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": domain}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": domain}}}}}
        r = HTTP.post(f"{self.url}/auth/tokens", json=body, timeout=TIMEOUT)
        expect(r.status_code == 201, f"token for {user}@{project}: {r.status_code} {r.text[:200]}")
        return r.headers["X-Subject-Token"], r.json()

    def validate(self, auth_token, subject_token):
        return HTTP.get(f"{self.url}/auth/tokens", timeout=TIMEOUT,
                        headers={"X-Auth-Token": auth_token, "X-Subject-Token": subject_token})

    def revoke(self, auth_token, subject_token):
        return HTTP.delete(f"{self.url}/auth/tokens", timeout=TIMEOUT,
                           headers={"X-Auth-Token": auth_token, "X-Subject-Token": subject_token})

    def call(self, token, method, path, body=None, ok=(200, 201, 204)):
        r = HTTP.request(method, f"{self.url}{path}", json=body, timeout=TIMEOUT,
                         headers={"X-Auth-Token": token})
        expect(r.status_code in ok, f"keystone {method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def find_or_create(self, token, collection, key, name, body):
        found = self.call(token, "GET", f"/{collection}?name={name}")[collection]
        if found:
            return found[0]["id"]
        return self.call(token, "POST", f"/{collection}", {key: body})[key]["id"]


# --- seed ---------------------------------------------------------------------

def glance_call(glance, token, method, path, **kw):
    headers = {"X-Auth-Token": token, **kw.pop("headers", {})}
    return HTTP.request(method, f"{glance}{path}", headers=headers, timeout=TIMEOUT, **kw)


def create_active_image(glance, token, name, visibility):
    r = glance_call(glance, token, "POST", "/v2/images", json={
        "name": name, "disk_format": "raw", "container_format": "bare", "visibility": visibility})
    expect(r.status_code == 201, f"create image {name}: {r.status_code} {r.text[:300]}")
    image_id = r.json()["id"]
    r = glance_call(glance, token, "PUT", f"/v2/images/{image_id}/file",
                    headers={"Content-Type": "application/octet-stream"},
                    data=f"imgcache keystone interop {name}\n".encode())
    expect(r.status_code == 204, f"upload {name}: {r.status_code} {r.text[:300]}")
    r = glance_call(glance, token, "GET", f"/v2/images/{image_id}")
    expect(r.status_code == 200 and r.json()["status"] == "active",
           f"image {name} after upload: {r.status_code} {r.text[:300]}")
    return image_id


def seed(args):
    ks = Keystone(args.keystone)
    admin, _ = ks.issue("admin", args.admin_password, "admin")
    domain = "default"
    projects = {p: ks.find_or_create(admin, "projects", "project", p,
                                     {"name": p, "domain_id": domain, "description": "imgcache interop"})
                for p in ("proj-a", "proj-b", "service")}
    roles = {r: ks.find_or_create(admin, "roles", "role", r, {"name": r})
             for r in ("member", "reader", "service")}
    users = {u: ks.find_or_create(admin, "users", "user", u,
                                  {"name": u, "domain_id": domain, "password": pw, "enabled": True})
             for u, pw in PASSWORDS.items()}
    for user, project, role in [("alice", "proj-a", "member"), ("carol", "proj-a", "member"),
                                ("bob", "proj-b", "member"), ("glance", "service", "service")]:
        ks.call(admin, "PUT", f"/projects/{projects[project]}/users/{users[user]}/roles/{roles[role]}")
    alice, _ = ks.issue("alice", PASSWORDS["alice"], "proj-a")
    private = [create_active_image(args.glance, alice, f"alice-private-{i}", "private")
               for i in range(N_PRIVATE)]
    public = create_active_image(args.glance, admin, "admin-public", "public")
    state = {"keystone": args.keystone, "admin_password": args.admin_password,
             "projects": projects, "users": users, "roles": roles,
             "private": private, "public": public}
    with open(args.state, "w") as f:
        json.dump(state, f, indent=2)
    print(f"seed: projects {projects}, users {users}, images private {private}, public {public}")


# --- checks -------------------------------------------------------------------

class Run:
    def __init__(self, args):
        with open(args.state) as f:
            self.state = json.load(f)
        self.args = args
        self.proxy_mode = args.proxy
        self.label = args.label or ("proxy" if args.proxy else "direct")
        self.target = args.target.rstrip("/")
        self.glance = (args.glance or args.target).rstrip("/")  # where the log marker is sent
        self.ks = Keystone(self.state["keystone"])
        self.images = self.state["private"] + [self.state["public"]]
        self.results = []

    # -- helpers

    def token(self, user, project):
        return self.ks.issue(user, PASSWORDS[user], project)[0]

    def read(self, token, image_id):
        """GET the image through TARGET: (status, Cache-Status or '', body text)."""
        headers = {} if token is None else {"X-Auth-Token": token}
        r = HTTP.get(f"{self.target}/v2/images/{image_id}", headers=headers, timeout=TIMEOUT)
        return r.status_code, r.headers.get("Cache-Status", ""), r.text

    @staticmethod
    def is_hit(cache_status):
        # "imgcache; hit; ttl=299" (not fwd=...; a stale answer is fwd=stale)
        parts = [p.strip() for p in cache_status.split(";")]
        return "hit" in parts[1:]

    def upstream_gets(self):
        """{image id: GETs Glance logged}, once the log has caught up (see
        tests/interop/checks.py glance_gets: a marker request must show first,
        then another worker's earlier line is given a moment)."""
        marker = f"/versions?log-marker={uuid.uuid4()}"
        HTTP.get(f"{self.glance}{marker}", timeout=TIMEOUT)
        deadline = time.monotonic() + 10

        def logged():
            with open(self.args.request_log) as f:
                return [line.split()[:2] for line in f]

        while ["GET", marker] not in logged():
            expect(time.monotonic() < deadline, "uWSGI request log did not catch up in 10 s")
            time.sleep(0.02)
        time.sleep(0.3)
        counts = {}
        for method, uri in (l for l in logged() if len(l) == 2):
            if method == "GET" and uri.startswith("/v2/images/"):
                rest = uri[len("/v2/images/"):]
                if "/" not in rest and "?" not in rest:
                    counts[rest] = counts.get(rest, 0) + 1
        return counts

    def metrics(self):
        """{result label: value} of VALIDATIONS_METRIC, or None without --admin."""
        if not self.args.admin:
            return None
        r = HTTP.get(f"{self.args.admin.rstrip('/')}/metrics", timeout=TIMEOUT)
        expect(r.status_code == 200, f"admin /metrics: {r.status_code}")
        values = {}
        for line in r.text.splitlines():
            if line.startswith(VALIDATIONS_METRIC + "{"):
                labels, _, value = line.rpartition(" ")
                for part in labels[len(VALIDATIONS_METRIC) + 1:].rstrip("}").split(","):
                    k, _, v = part.partition("=")
                    if k.strip() == "result":
                        values[v.strip().strip('"')] = float(value)
        return values

    def check(self, name, fn, proxy_only=False):
        if proxy_only and not self.proxy_mode:
            return
        started = time.monotonic()
        try:
            note = fn()
            status = "SKIP" if isinstance(note, str) and note.startswith("skip:") else "PASS"
            line = f"{status} [{self.label}] {name}"
            if note:
                line += f": {note.removeprefix('skip:').strip()}"
        except CheckFailed as e:
            status, line = "FAIL", f"FAIL [{self.label}] {name}: {e}"
        except Exception as e:  # a broken harness or a refused connection is a failure too
            status = "FAIL"
            line = f"FAIL [{self.label}] {name}: {type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        self.results.append(status)
        print(f"{line} ({time.monotonic() - started:.1f} s)", flush=True)

    # -- the checks

    def check_keystone_self_validation(self):
        """What the proxy relies on: a member-role user may validate its own
        token (X-Auth-Token == X-Subject-Token) under Keystone's default policy."""
        token, issued = self.ks.issue("alice", PASSWORDS["alice"], "proj-a")
        r = self.ks.validate(token, token)
        expect(r.status_code == 200, f"GET /v3/auth/tokens with its own token: {r.status_code} {r.text[:200]}")
        body = r.json()["token"]
        expect(body["user"]["id"] == self.state["users"]["alice"], f"user {body['user']}")
        expect(body["project"]["id"] == self.state["projects"]["proj-a"], f"project {body['project']}")
        roles = sorted(role["name"] for role in body["roles"])
        expect("member" in roles, f"roles {roles}")
        if self.proxy_mode:
            return None
        # Print once (direct mode) what the answer looks like.
        fields = {k: (sorted(v) if isinstance(v, dict) else type(v).__name__) for k, v in body.items()}
        print(f"INFO [{self.label}] GET /v3/auth/tokens (X-Auth-Token == X-Subject-Token, alice, member) -> "
              f"{r.status_code}; X-Subject-Token echoed: {'X-Subject-Token' in r.headers}; "
              f"token fields: {json.dumps(fields, sort_keys=True)}; roles {roles}; "
              f"user {json.dumps(body['user'], sort_keys=True)}; "
              f"project {json.dumps(body['project'], sort_keys=True)}; "
              f"expires_at {body.get('expires_at')}", flush=True)
        other, _ = self.ks.issue("bob", PASSWORDS["bob"], "proj-b")
        answers = {
            "bob validates alice's token": self.ks.validate(other, token).status_code,
            "alice, garbage subject": self.ks.validate(token, "garbage-" + uuid.uuid4().hex).status_code,
            "garbage validates itself": self.ks.validate(g := "garbage-" + uuid.uuid4().hex, g).status_code,
            "HEAD own token": HTTP.head(f"{self.ks.url}/auth/tokens", timeout=TIMEOUT,
                                        headers={"X-Auth-Token": token, "X-Subject-Token": token}).status_code,
            "GET own token ?nocatalog": HTTP.get(f"{self.ks.url}/auth/tokens?nocatalog", timeout=TIMEOUT,
                                                 headers={"X-Auth-Token": token,
                                                          "X-Subject-Token": token}).status_code,
        }
        print(f"INFO [{self.label}] keystone answers: {json.dumps(answers)}", flush=True)
        r = HTTP.get(f"{self.ks.url}/auth/tokens?nocatalog", timeout=TIMEOUT,
                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
        print(f"INFO [{self.label}] with ?nocatalog the token has: {sorted(r.json()['token'])}", flush=True)
        r = HTTP.post(f"{self.ks.url}/auth/tokens", timeout=TIMEOUT, json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "alice", "domain": {"id": "default"}, "password": PASSWORDS["alice"]}}}}})
        unscoped = r.headers.get("X-Subject-Token", "")
        r = self.ks.validate(unscoped, unscoped)
        print(f"INFO [{self.label}] an unscoped token (no scope in the request, alice has no default "
              f"project) validating itself -> {r.status_code}; token fields: "
              f"{sorted(r.json()['token']) if r.status_code == 200 else r.text[:120]}; "
              f"Glance answers it {self.read(unscoped, self.state['public'])[0]} for the public image", flush=True)
        self.ks.revoke(token, token)
        answers = {
            "revoked token validates itself": self.ks.validate(token, token).status_code,
            "bob validates alice's revoked token": self.ks.validate(other, token).status_code,
        }
        print(f"INFO [{self.label}] keystone answers after alice revoked her token herself: "
              f"{json.dumps(answers)}", flush=True)
        return None

    def check_new_tokens_share(self):
        """(a) RUNS new alice tokens, each reading the five images twice."""
        runs = RUNS if self.proxy_mode else 3
        before, metrics_before = self.upstream_gets(), self.metrics()
        statuses, hits, reads, slow_runs = {}, 0, 0, 0
        for _ in range(runs):
            token = self.token("alice", "proj-a")
            started = time.monotonic()
            for _ in range(2):
                for image_id in self.images:
                    status, cache_status, _ = self.read(token, image_id)
                    statuses[status] = statuses.get(status, 0) + 1
                    hits += self.is_hit(cache_status)
                    reads += 1
            if time.monotonic() - started > self.args.validation_ttl:
                slow_runs += 1
        after, metrics_after = self.upstream_gets(), self.metrics()
        seen = {i: after.get(i, 0) - before.get(i, 0) for i in self.images}
        expect(statuses == {200: reads}, f"statuses {statuses} over {reads} reads")
        if not self.proxy_mode:
            expect(all(n == 2 * runs for n in seen.values()),
                   f"request-log counter is broken: Glance logged {seen}, expected {2 * runs} each")
            return f"{runs} new tokens x {len(self.images)} images x 2 reads: all 200, Glance logged each"
        ratio = hits / reads
        problems = []
        if any(n != 1 for n in seen.values()):
            problems.append(f"the upstream saw {sorted(seen.values())} GETs per image, expected exactly 1 each")
        if ratio < HIT_RATIO_MIN:
            problems.append(f"hit ratio {hits}/{reads} = {ratio:.3f} < {HIT_RATIO_MIN}")
        if metrics_before is not None:
            valid = metrics_after.get("valid", 0) - metrics_before.get("valid", 0)
            if not metrics_after:
                problems.append(f"admin /metrics has no {VALIDATIONS_METRIC}")
            elif not runs <= valid <= runs + slow_runs:
                problems.append(f"{VALIDATIONS_METRIC}{{result=\"valid\"}} rose by {valid:g} for {runs} "
                                f"new tokens (expected {runs}: one validation each)")
        expect(not problems, "; ".join(problems))
        return f"hit ratio {hits}/{reads} = {ratio:.3f}; upstream GETs per image {sorted(seen.values())}"

    def check_same_project_other_user(self):
        """carol: same project, same roles, another user. share=user: not
        alice's entries (the upstream is asked); share=project: alice's entries."""
        token = self.token("carol", "proj-a")
        image_id = self.state["private"][0]
        before = self.upstream_gets()
        status, cache_status, _ = self.read(token, image_id)
        asked = self.upstream_gets().get(image_id, 0) - before.get(image_id, 0)
        expect(status == 200, f"carol (member of proj-a) got {status} for a proj-a image")
        if self.args.share == "project":
            expect(self.is_hit(cache_status) and asked == 0,
                   f"share=project: carol's read was {cache_status!r}, upstream asked {asked}x "
                   f"(expected a hit on alice's entry)")
            return f"share=project: carol hit alice's entry ({cache_status})"
        expect(not self.is_hit(cache_status) and asked == 1,
               f"share=user: carol's read was {cache_status!r}, upstream asked {asked}x "
               f"(expected a miss: another user)")
        return f"share=user: carol missed ({cache_status})"

    def check_other_project(self):
        """(b) bob (proj-b) never gets alice's private images."""
        if self.proxy_mode:
            # alice's entries must be cached first, or the check proves nothing
            alice = self.token("alice", "proj-a")
            for image_id in self.state["private"]:
                self.read(alice, image_id)
                status, cache_status, _ = self.read(alice, image_id)
                expect(status == 200 and self.is_hit(cache_status),
                       f"alice's read of {image_id} is not a cached 200 ({status}, {cache_status!r})")
        token = self.token("bob", "proj-b")
        before = self.upstream_gets()
        answers = []
        for image_id in self.state["private"]:
            for _ in range(2):
                status, cache_status, body = self.read(token, image_id)
                answers.append((status, cache_status))
                expect(status != 200, f"bob got alice's private image {image_id}: 200 {cache_status!r} {body[:120]}")
                expect(status == 404, f"bob got {status} for alice's private image (expected 404)")
                expect(not self.is_hit(cache_status), f"bob's 404 was a cache hit ({cache_status!r})")
        after = self.upstream_gets()
        asked = {i: after.get(i, 0) - before.get(i, 0) for i in self.state["private"]}
        expect(all(n == 2 for n in asked.values()),
               f"the upstream was asked {asked} times per image for bob's 2 reads each")
        status, _, _ = self.read(token, self.state["public"])
        expect(status == 200, f"bob got {status} for the public image")
        return f"{len(answers)} reads: 404, upstream asked each time; public image 200"

    def check_revoked(self):
        """(c) a revoked token stops hitting within validation_ttl."""
        token = self.token("alice", "proj-a")
        image_id = self.state["private"][1]
        status, cache_status, _ = self.read(token, image_id)
        expect(status == 200, f"before revocation: {status}")
        if self.proxy_mode:
            expect(self.is_hit(cache_status), f"before revocation: not a hit ({cache_status!r})")
        r = self.ks.revoke(token, token)  # as itself (token_subject)
        expect(r.status_code == 204, f"DELETE /v3/auth/tokens (itself): {r.status_code} {r.text[:200]}")
        r = self.ks.validate(self.token("alice", "proj-a"), token)
        expect(r.status_code == 404, f"Keystone still validates the revoked token: {r.status_code}")
        if self.proxy_mode:
            time.sleep(self.args.validation_ttl + 1)
        before = self.upstream_gets()
        answers = []
        for _ in range(3):
            status, cache_status, body = self.read(token, image_id)
            answers.append(f"{status} {cache_status!r}")
            expect(status != 200, f"revoked token still gets 200 ({cache_status!r}) "
                                  f"{self.args.validation_ttl + 1:g} s after revocation")
            expect(not self.is_hit(cache_status), f"revoked token got a cache hit ({status} {cache_status!r})")
            expect(status == 401, f"revoked token got {status}, expected 401: {body[:120]}")
        asked = self.upstream_gets().get(image_id, 0) - before.get(image_id, 0)
        expect(asked == 3, f"the upstream saw {asked} of the revoked token's 3 reads (expected forwarded)")
        return f"after revocation: {answers[0]} (x3, all forwarded)"

    def check_garbage(self):
        """(d) a garbage token, and none at all, get 401, never 200."""
        before = self.upstream_gets()
        answers = []
        for token in ("garbage-" + uuid.uuid4().hex, "gAAAAAB" + uuid.uuid4().hex * 4, None):
            for image_id in (self.state["private"][2], self.state["public"]):
                for _ in range(2):
                    status, cache_status, _ = self.read(token, image_id)
                    answers.append(status)
                    expect(status == 401, f"token {token and token[:12]!r}: {status} {cache_status!r}, expected 401")
                    expect(not self.is_hit(cache_status), f"token {token and token[:12]!r}: a cache hit")
        after = self.upstream_gets()
        asked = sum(after.get(i, 0) - before.get(i, 0) for i in (self.state["private"][2], self.state["public"]))
        expect(asked == len(answers), f"the upstream saw {asked} of {len(answers)} reads")
        return f"{len(answers)} reads (2 garbage tokens, no token): all 401, all forwarded"

    def check_metrics(self):
        m = self.metrics()
        if m is None:
            return "skip: no --admin"
        expect(m, f"admin /metrics has no {VALIDATIONS_METRIC}")
        expect(m.get("valid", 0) >= RUNS, f"{VALIDATIONS_METRIC} {m}: fewer valid than {RUNS}")
        expect(m.get("invalid", 0) >= 3, f"{VALIDATIONS_METRIC} {m}: revoked + garbage tokens not counted invalid")
        expect(m.get("unavailable", 0) == 0, f"{VALIDATIONS_METRIC} {m}: Keystone was up all along")
        return f"{VALIDATIONS_METRIC} {json.dumps(m, sort_keys=True)}"

    def run(self):
        only = set(self.args.only.split(",")) if self.args.only else None
        checks = [
            ("keystone-self-validation", self.check_keystone_self_validation, False),
            ("new-tokens-share", self.check_new_tokens_share, False),
            ("same-project-other-user", self.check_same_project_other_user, True),
            ("other-project-404", self.check_other_project, False),
            ("revoked-token", self.check_revoked, False),
            ("garbage-token", self.check_garbage, False),
            ("metrics", self.check_metrics, True),
        ]
        for name, fn, proxy_only in checks:
            if only is None or name in only:
                self.check(name, fn, proxy_only)
        return 1 if "FAIL" in self.results else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--keystone", required=True, help="Keystone v3 root, e.g. http://127.0.0.1:5000/v3")
    s.add_argument("--glance", required=True)
    s.add_argument("--admin-password", required=True)
    s.add_argument("--state", required=True)
    r = sub.add_parser("run")
    mode = r.add_mutually_exclusive_group(required=True)
    mode.add_argument("--direct", action="store_true", help="TARGET is Glance itself")
    mode.add_argument("--proxy", action="store_true", help="TARGET is imgcache")
    r.add_argument("--target", required=True)
    r.add_argument("--glance", help="Glance itself (for the request-log marker); default TARGET")
    r.add_argument("--state", required=True)
    r.add_argument("--request-log", required=True)
    r.add_argument("--admin", help="the proxy's admin URL (metrics)")
    r.add_argument("--validation-ttl", type=float, default=2.0)
    r.add_argument("--share", choices=("user", "project"), default="user")
    r.add_argument("--label")
    r.add_argument("--only", help="comma-separated check names")
    args = p.parse_args()
    if args.cmd == "seed":
        seed(args)
        return 0
    return Run(args).run()


if __name__ == "__main__":
    sys.exit(main())
