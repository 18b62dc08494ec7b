"""Identity leak probes: requests that spell an identity the way Glance
reads it but a cache key might not, sent through the proxy and straight to
Glance, over raw sockets (header names with `_`, repeated and empty header
lines go out exactly as written).

Glance runs under uWSGI, which folds `-` and `_` in header names into one
environ key (`X_Auth_Token` and `X-Auth-Token` are both
HTTP_X_AUTH_TOKEN) and joins repeated lines with ", " in wire order;
oslo.context reads legacy aliases (X-Tenant, X-Tenant-Id, X-Role, X-User),
keystonemiddleware (here its stand-in, identities.TokenIdentity) takes the
user token from X-Auth-Token or X-Storage-Token.

Each round empties the proxy's cache of the private image (admin purge),
fills it with one privileged read (project A, the owner; admin; B's user
with the admin role) in one spelling, then sends every probe
  - on a fresh connection (one request: the proxy's hit path), and
  - as the second request of a keep-alive connection whose first request
    was a cache miss or a POST (the proxy has handed it to hyper).
Glance's own answer to each probe is asked once, directly.

Assertions, for every (round, probe, connection):
  security   a proxied 200 is a 200 from Glance itself, with the same
             image (same id; passthrough: the same bytes; other modes: the
             same image as the mode renders it), for the very same request.
             Drop mode only: a request with `_`-named lines is also allowed
             the 200 Glance gives to it without those lines — that is what
             the proxy forwards, and the caller sent that identity in clear
             (e.g. `X-Auth-Token: t` + `X_Auth_Token: t` is 401 at Glance,
             which joins them into "t, t", but 200 through a proxy that
             drops the second line: nothing the caller could not have had).
             Such cases are listed as notes, not failures.
  forwarding drop mode: proxied status == Glance's status for the request
             without its `_`-named lines (what the proxy forwards);
             fold mode: proxied status == Glance's status for the very
             same request (folding is what WSGI does).
  baseline   Glance answers each fill with 200 and each probe with the
             status written beside it (so a harness change cannot make the
             probes test nothing).
"""

import collections
import json
import os
import uuid

from clients import Failed, exchange
from identities import CALLERS
from rawhttp import ConnectionDropped, RawConnection, one_request

ACCEPT = [("Accept", "application/json")]

# name -> (token or None, user id, project id, roles). "b-admin" is B's
# user and project with the admin role: privileged, without a token.
WHO = {**CALLERS, "b-admin": (None, "user-b", "project-b", "admin,member,reader")}


def _trusted(status="X-Identity-Status", user="X-User-Id", project="X-Project-Id", roles="X-Roles"):
    return lambda tok, u, p, r: [(status, "Confirmed"), (user, u), (project, p), (roles, r)]


def _token(name):
    return lambda tok, u, p, r: [(name, tok)] if tok else None


# How one identity can be written, each a way Glance (oslo.context,
# keystonemiddleware's token) really reads it. None: not writable (no token).
SPELLINGS = {
    "trusted": _trusted(),
    "token": _token("X-Auth-Token"),
    "storage-token": _token("X-Storage-Token"),
    "legacy": _trusted(user="X-User", project="X-Tenant", roles="X-Role"),
    "tenant": _trusted(project="X-Tenant"),
    "tenant-id": _trusted(project="X-Tenant-Id"),
    "role-alias": _trusted(roles="X-Role"),
    "user-alias": _trusted(user="X-User"),
    "mixed-case-names": _trusted("x-IDENTITY-status", "X-USER-ID", "x-Project-ID", "x-roles"),
    "underscore-token": _token("X_Auth_Token"),
    "underscore-token-mixed-case": _token("x_auth_TOKEN"),
    "underscore-storage-token": _token("X_Storage_Token"),
    "underscore-trusted": _trusted("X_Identity_Status", "X_User_Id", "X_Project_Id", "X_Roles"),
}


def spell(spelling, who):
    return SPELLINGS[spelling](*WHO[who])


Probe = collections.namedtuple("Probe", "name lines expect")
# expect: Glance's own status for the request (the private image of project A).


def _without(lines, name):
    return [(k, v) for k, v in lines if k.lower() != name.lower()]


def _replace(lines, name, value):
    return [(k, value if k.lower() == name.lower() else v) for k, v in lines]


def probes():
    """The probes, in the order sent. B's plain spellings come first and
    again last: a probe in between that the proxy stored under B's key
    (a poisoned entry) is then served to plain B."""
    ta, tb = spell("trusted", "a"), spell("trusted", "b")
    toka, tokb = spell("token", "a"), spell("token", "b")
    b_plain = [Probe(f"{s}(b)", spell(s, "b"), 404) for s in SPELLINGS if spell(s, "b")]
    specials = [
        # no identity at all, and identities Glance refuses
        Probe("anonymous", [], 401),
        Probe("X-Identity-Status: Confirmed alone", [("X-Identity-Status", "Confirmed")], 404),
        Probe("empty X-Auth-Token", [("X-Auth-Token", "")], 401),
        Probe("trusted(a) + empty X-Auth-Token", ta + [("X-Auth-Token", "")], 401),
        Probe("trusted(a) + empty X-Storage-Token", ta + [("X-Storage-Token", "")], 401),
        Probe("trusted(a), X-Identity-Status empty", _replace(ta, "X-Identity-Status", ""), 401),
        Probe("trusted(a), X-Project-Id empty", _replace(ta, "X-Project-Id", ""), 404),
        Probe("trusted(a), X-Roles empty", _replace(ta, "X-Roles", ""), 404),
        # aliases beside the primary header (oslo.context reads the primary first)
        Probe("trusted(a) + X-Tenant: project-b", ta + [("X-Tenant", "project-b")], 200),
        Probe("trusted(a) + X-Tenant-Id: project-b", ta + [("X-Tenant-Id", "project-b")], 200),
        Probe("trusted(a) + X-Tenant-Name: project-b", ta + [("X-Tenant-Name", "project-b")], 200),
        Probe("trusted(a) + X-Role: member", ta + [("X-Role", "member")], 200),
        Probe("trusted(a) + X-User: user-b", ta + [("X-User", "user-b")], 200),
        Probe("trusted(b) + X-Role: admin", tb + [("X-Role", "admin")], 404),
        Probe("trusted(b) + X-Tenant: project-a", tb + [("X-Tenant", "project-a")], 404),
        Probe("trusted(b) without X-Project-Id + X-Tenant: project-a",
              _without(tb, "X-Project-Id") + [("X-Tenant", "project-a")], 200),
        Probe("trusted(b) without X-Roles + X-Role: admin", _without(tb, "X-Roles") + [("X-Role", "admin")], 200),
        # the other token header decides when X-Auth-Token is absent
        Probe("trusted(a) + X-Storage-Token: tok-project-b", ta + [("X-Storage-Token", "tok-project-b")], 404),
        Probe("trusted(b) + X-Storage-Token: tok-project-a", tb + [("X-Storage-Token", "tok-project-a")], 200),
        Probe("token(b) + X-Storage-Token: tok-project-a", tokb + [("X-Storage-Token", "tok-project-a")], 404),
        # repeated lines: uWSGI joins them with ", " in order
        Probe("X-Project-Id twice (project-a, project-a)",
              ta + [("X-Project-Id", "project-a")], 404),
        Probe("X-Project-Id twice (project-b, project-a)",
              [("X-Project-Id", "project-b")] + ta, 404),
        Probe("X-Auth-Token twice (tok-project-a, tok-project-a)", toka + toka, 401),
        Probe("X-Identity-Status twice", ta + [("X-Identity-Status", "Confirmed")], 401),
        Probe("trusted(b) + X-Roles: admin again", tb + [("X-Roles", "admin")], 200),
        # a dash and an underscore spelling of one header
        Probe("trusted(a) + X_Project_Id: project-b", ta + [("X_Project_Id", "project-b")], 404),
        Probe("X_Project_Id: project-b before trusted(a)", [("X_Project_Id", "project-b")] + ta, 404),
        Probe("trusted(a) + X_Project_Id: project-a", ta + [("X_Project_Id", "project-a")], 404),
        Probe("trusted(b) + X_Project_Id: project-a", tb + [("X_Project_Id", "project-a")], 404),
        Probe("token(a) + X_Auth_Token: tok-project-a", toka + [("X_Auth_Token", "tok-project-a")], 401),
        Probe("X_Auth_Token: tok-project-b before token(a)", [("X_Auth_Token", "tok-project-b")] + toka, 401),
        Probe("token(b) + x_auth_TOKEN: tok-admin", tokb + [("x_auth_TOKEN", "tok-admin")], 401),
        Probe("trusted(a) + X_Auth_Token: tok-project-b", ta + [("X_Auth_Token", "tok-project-b")], 404),
        Probe("trusted(a) + X_Identity_Status: Invalid", ta + [("X_Identity_Status", "Invalid")], 401),
        # underscore spellings that raise B's privileges to Glance
        Probe("trusted(b) + X_Roles: admin", tb + [("X_Roles", "admin")], 200),
        Probe("trusted(b) + x_roles: admin", tb + [("x_roles", "admin")], 200),
        Probe("trusted(b) + X_Auth_Token: tok-project-a", tb + [("X_Auth_Token", "tok-project-a")], 200),
        Probe("trusted(b) + X_Auth_Token: tok-admin", tb + [("X_Auth_Token", "tok-admin")], 200),
        Probe("trusted(b) + X_Storage_Token: tok-admin", tb + [("X_Storage_Token", "tok-admin")], 200),
        Probe("X_Auth_Token: tok-project-a + X_Tenant: project-b",
              [("X_Auth_Token", "tok-project-a"), ("X_Tenant", "project-b")], 200),
        # empty underscore spellings
        Probe("empty X_Auth_Token", [("X_Auth_Token", "")], 401),
        Probe("trusted(a) + empty X_Auth_Token", ta + [("X_Auth_Token", "")], 401),
        Probe("trusted(a) + empty X_Identity_Status", ta + [("X_Identity_Status", "")], 401),
        Probe("anonymous, again", [], 401),
    ]
    return (b_plain + specials + [Probe(f"{p.name}, again", p.lines, p.expect) for p in b_plain])


def rounds():
    """(name, fill lines or None): the privileged reads that fill the cache."""
    out = [("no fill", None)]
    for who in ("a", "admin", "b-admin"):
        for s in SPELLINGS:
            lines = spell(s, who)
            if lines is not None and (who == "a" or s in FILL_SPELLINGS_OTHERS):
                out.append((f"{s}({who})", lines))
    return out


# The spellings the admin and B-as-admin rounds fill with (A's rounds use all).
FILL_SPELLINGS_OTHERS = {"trusted", "token", "legacy", "role-alias", "tenant", "underscore-token",
                         "underscore-trusted"}


def has_underscore(lines):
    return any("_" in name for name, _ in lines)


def strip_underscores(lines):
    return [(k, v) for k, v in lines if "_" not in k]


def show(lines):
    return "; ".join(f"{k}: {v}" for k, v in lines) or "(no identity header)"


def cache_status(resp):
    return resp.header("Cache-Status") or ""


def is_hit(resp):
    return "hit" in [part.strip() for part in cache_status(resp).split(";")]


class ProbeRun:
    """The probes of one pass; `run` sends them all and returns the problems."""

    def __init__(self, *, proxy, direct, admin, image_id, label, underscores, same_view, out_dir, no_proxy):
        self.proxy, self.direct, self.admin = proxy, direct, admin
        self.image_id, self.path = image_id, f"/v2/images/{image_id}"
        self.label, self.underscores = label, underscores
        self.same_view = same_view  # (direct body, proxied body) -> [problem]
        self.out_dir, self.no_proxy = out_dir, no_proxy
        self._direct = {}
        # security, forwarding, notes: {probe name: [(round, connection, detail)]}
        self.security = collections.defaultdict(list)
        self.forwarding = collections.defaultdict(list)
        self.notes = collections.defaultdict(list)
        self.baseline = []
        self.coverage = []  # lines saying which paths answered hits
        self.fills = []  # fills the proxy answered or stored other than it should
        self.rows = []
        self.answers_per_probe = 0

    # -- requests

    def direct_answer(self, lines):
        key = tuple(lines)
        if key not in self._direct:
            self._direct[key] = one_request(self.direct, "GET", self.path, lines + ACCEPT)
        return self._direct[key]

    def purge(self):
        if self.no_proxy:
            return
        resp = exchange(self.admin, "DELETE", f"/cache/images/{self.image_id}")
        if resp.status != 200:
            raise Failed(f"admin purge of {self.image_id}: {resp.status} {resp.body[:200]!r}")

    def fresh(self, lines):
        return one_request(self.proxy, "GET", self.path, lines + ACCEPT)

    def handed_off(self, lines, first):
        """The probe as the second request on one connection; the first is a
        cache miss (an unknown image id) or a POST."""
        with RawConnection(self.proxy) as conn:
            if first == "miss":
                conn.request("GET", f"/v2/images/{uuid.uuid4()}", ACCEPT)
            else:
                conn.request("POST", "/v2/images", [("Content-Type", "application/json")] + ACCEPT, b"{}")
            return conn.request("GET", self.path, lines + ACCEPT)

    # -- judging

    def image_problems(self, direct, proxied):
        """Why `proxied` (a 200) is not the image Glance gave in `direct`."""
        if direct.status != 200:
            return [f"Glance answers {direct.status}"]
        try:
            got = json.loads(proxied.body)
        except ValueError:
            return ["proxied body is not JSON"]
        if not isinstance(got, dict) or got.get("id") != self.image_id:
            return [f"proxied body is not image {self.image_id}"]
        return self.same_view(direct.body, proxied.body)

    def judge(self, round_name, probe, how, resp):
        same = self.direct_answer(probe.lines)
        forwarded = self.direct_answer(strip_underscores(probe.lines))
        status = resp.status if resp is not None else 0
        shown = f"proxied {status or 'dropped'} ({cache_status(resp) if resp else '-'}), " \
                f"Glance {same.status}, Glance without `_` lines {forwarded.status}"
        self.rows.append((round_name, probe.name, how, status, cache_status(resp) if resp else "",
                          same.status, forwarded.status))
        if resp is None:
            self.forwarding[probe.name].append((round_name, how, "the proxy dropped the connection"))
            return
        if status == 200:
            problems = self.image_problems(same, resp)
            if problems:
                fallback = (self.image_problems(forwarded, resp)
                            if self.underscores == "drop" and has_underscore(probe.lines) else problems)
                if fallback:
                    self.security[probe.name].append((round_name, how, f"{shown}: {'; '.join(problems)}"))
                else:
                    self.notes[probe.name].append((round_name, how, shown))
        if self.no_proxy:
            return
        want = forwarded.status if self.underscores == "drop" else same.status
        if status != want:
            self.forwarding[probe.name].append((round_name, how, f"{shown}; want {want}"))

    def grouped(self, found, plist):
        """One line per probe with problems: how many of its answers, the
        rounds they came in, and the first one in full."""
        lines = []
        for probe in plist:
            cases = found.get(probe.name)
            if not cases:
                continue
            round_name, how, detail = cases[0]
            rounds_seen = sorted({r for r, _, _ in cases})
            in_rounds = ", ".join(rounds_seen[:6]) + (f" +{len(rounds_seen) - 6} more" if len(rounds_seen) > 6 else "")
            lines.append(f"{probe.name!r} [{show(probe.lines)}]: {len(cases)} of {self.answers_per_probe} answers "
                         f"(rounds: {in_rounds}); first: round {round_name!r}, {how}: {detail}")
        return lines

    def fill(self, round_name, fill):
        """The round's privileged read, twice through the proxy: it gets what
        Glance gives to what the proxy forwards, and a 200 is then a hit."""
        got = self.direct_answer(fill).status
        if got != 200:
            self.baseline.append(f"Glance answers fill {round_name} [{show(fill)}] with {got}, not 200")
        first, second = self.fresh(fill), self.fresh(fill)
        self.rows.append((round_name, "(fill)", "fresh connection", second.status, cache_status(second), got,
                          self.direct_answer(strip_underscores(fill)).status))
        if self.no_proxy:
            return
        want = self.direct_answer(strip_underscores(fill) if self.underscores == "drop" else fill).status
        if first.status != want:
            self.fills.append(f"fill {round_name} [{show(fill)}]: proxied {first.status} "
                              f"({cache_status(first)}), want {want}")
        elif want == 200 and not is_hit(second):
            self.fills.append(f"fill {round_name} [{show(fill)}]: read again, not a hit ({cache_status(second)!r})")

    # -- the pass

    def run(self):
        plist = probes()
        for probe in plist:
            got = self.direct_answer(probe.lines).status
            if got != probe.expect:
                self.baseline.append(f"Glance answers probe {probe.name!r} [{show(probe.lines)}] "
                                     f"with {got}, the probe expects {probe.expect}")
        hand_off = ["miss", "post"]
        # Without a proxy (PROXY is Glance, which closes every connection
        # after one answer) one pass on fresh connections checks the harness.
        plan = rounds()[:1] if self.no_proxy else rounds()
        self.answers_per_probe = len(plan) * (1 if self.no_proxy else 2)
        hit_path_before = None if self.no_proxy else self.metric(HIT_PATH_METRIC)
        for round_name, fill in plan:
            self.purge()
            if fill is not None:
                self.fill(round_name, fill)
            for i, probe in enumerate(plist):
                # Both orders (so either way may answer a probe's first
                # read, a miss, and its second, a hit) and both hand-offs.
                first = hand_off[(i // 2) % 2]
                hows = ["fresh connection"] + ([] if self.no_proxy else [f"after a {first}"])
                for how in (hows if i % 2 == 0 else hows[::-1]):
                    try:
                        resp = self.fresh(probe.lines) if how == "fresh connection" else \
                            self.handed_off(probe.lines, first)
                    except (ConnectionDropped, OSError):
                        resp = None
                    self.judge(round_name, probe, how, resp)
        self.write_table()
        if not self.no_proxy:
            self.check_coverage(self.metric(HIT_PATH_METRIC) - hit_path_before)
        return plist

    def metric(self, name):
        """A counter of the proxy's admin /metrics, summed over its labels."""
        resp = exchange(self.admin, "GET", "/metrics")
        if resp.status != 200:
            raise Failed(f"admin GET /metrics: {resp.status}")
        total, found = 0.0, False
        for line in resp.body.decode().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        if not found:
            raise Failed(f"admin /metrics has no {name}")
        return total

    def check_coverage(self, hit_path_answers):
        """Both ways to a hit were taken: the hit path answered some probes
        (its own counter), hyper answered hits on handed-off connections."""
        hits = collections.Counter(how.split()[0] for _r, name, how, status, cstatus, _s, _f in self.rows
                                   if name != "(fill)" and "hit" in [p.strip() for p in cstatus.split(";")])
        fresh, handed = hits["fresh"], hits["after"]
        self.coverage.append(f"hits on fresh connections {fresh} (the hit path answered {hit_path_answers:.0f} "
                             f"requests), on connections handed to hyper {handed}")
        if hit_path_answers < 1 or fresh < 1:
            self.baseline.append(f"no probe was answered on the hit path ({HIT_PATH_METRIC} "
                                 f"+{hit_path_answers:.0f}, fresh-connection hits {fresh})")
        if handed < 1:
            self.baseline.append("no probe on a connection handed to hyper was a cache hit")

    def write_table(self):
        if not self.out_dir:
            return
        path = os.path.join(self.out_dir, f"identity-probes-{self.label}.tsv")
        with open(path, "w") as f:
            f.write("round\tprobe\tconnection\tproxied\tcache-status\tglance\tglance-without-underscores\n")
            for row in self.rows:
                f.write("\t".join(str(c) for c in row) + "\n")

    def summary(self, plist):
        """One line per probe: Glance's answers and what the proxy gave over all rounds."""
        seen = collections.defaultdict(collections.Counter)
        for _round, name, _how, status, cstatus, _s, _f in self.rows:
            tag = "hit" if "hit" in [p.strip() for p in cstatus.split(";")] else ""
            seen[name][f"{status or 'dropped'}{'(hit)' if tag else ''}"] += 1
        lines = []
        width = max(len(p.name) for p in plist)
        for p in plist:
            same = self.direct_answer(p.lines).status
            fwd = self.direct_answer(strip_underscores(p.lines)).status
            got = " ".join(f"{k}x{n}" for k, n in sorted(seen[p.name].items()))
            lines.append(f"    {p.name:<{width}}  glance {same}  without-_ {fwd}  proxied {got}")
        return lines


HIT_PATH_METRIC = "imgcache_hit_path_responses_total"


def non_write_methods(proxy, direct, admin, image_id, owner_lines):
    """After a fill, methods that write nothing (OPTIONS, FOO, lower-case
    get and patch, HEAD), sent without identity, must leave the filler's
    entry cached: its next read is a hit. Returns (report lines, problems)."""
    path = f"/v2/images/{image_id}"
    report, problems = [], []
    cases = [
        ("OPTIONS", [], None),
        ("FOO", [], None),
        ("get", [], None),
        ("patch", [("Content-Type", "application/openstack-images-v2.1-json-patch")], b"[]"),
        ("HEAD", [], None),
    ]
    for method, lines, body in cases:
        exchange(admin, "DELETE", f"/cache/images/{image_id}")
        one_request(proxy, "GET", path, owner_lines + ACCEPT)
        filled = one_request(proxy, "GET", path, owner_lines + ACCEPT)
        if not is_hit(filled):
            problems.append(f"{method}: the fill did not make a hit (Cache-Status {cache_status(filled)!r})")
            continue
        via_proxy = one_request(proxy, method, path, lines + ACCEPT, body)
        glance = one_request(direct, method, path, lines + ACCEPT, body)
        after = one_request(proxy, "GET", path, owner_lines + ACCEPT)
        report.append(f"    {method:<8} unauthenticated: proxied {via_proxy.status}, Glance {glance.status}; "
                      f"owner's next read: {after.status} {cache_status(after)!r}")
        if not is_hit(after):
            problems.append(f"{method} (unauthenticated, proxied {via_proxy.status}) purged the owner's entry: "
                            f"next read {after.status} {cache_status(after)!r}")
    # `get` is not GET: with the owner's identity it must reach Glance
    # (which routes no lower-case method), not be answered from the cache.
    via_proxy = one_request(proxy, "get", path, owner_lines + ACCEPT)
    glance = one_request(direct, "get", path, owner_lines + ACCEPT)
    report.append(f"    get      as the owner: proxied {via_proxy.status} {cache_status(via_proxy)!r}, "
                  f"Glance {glance.status}")
    if via_proxy.status != glance.status or is_hit(via_proxy):
        problems.append(f"`get` as the owner: proxied {via_proxy.status} {cache_status(via_proxy)!r}, "
                        f"Glance {glance.status}")
    return report, problems
