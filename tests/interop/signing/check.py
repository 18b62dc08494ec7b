#!/usr/bin/env python3
"""AK/SK signing checks, driven by Huawei's own IMS SDK (huaweicloudsdkims).

Every request is signed by the SDK (BasicCredentials + its Signer) exactly
as a user's script would sign it; what reached the fake IMS (upstream.py)
is read from its control port.

  --direct URL   against upstream.py itself: proves the harness (right keys
                 200, wrong SK / stale date / unknown AK / moved Host 401,
                 every request counted once).
  --proxy URL    through imgcache, which holds some of the keys (run.sh):
                 verified requests are cached per Access key and re-signed
                 for the upstream on a miss; unverifiable ones pass through
                 untouched and are never cached or answered from the cache.

    check.py --direct http://127.0.0.1:U --control http://127.0.0.1:C
    check.py --proxy http://127.0.0.1:P --upstream http://127.0.0.1:U \\
             --control http://127.0.0.1:C --admin http://127.0.0.1:A

Prints one PASS/FAIL line per check; exits 1 if any failed. The proxy
checks expect a proxy with an empty cache (run.sh starts a fresh one).

The SDK keeps a per-machine id in $HOME/.huaweicloud/application_id and
sends it in the (signed) User-Agent; run.sh points HOME at its work dir.
"""

import argparse
import json
import logging
import re
import sys
import time
import urllib.request
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional
from urllib.parse import urlsplit

# The Glance-compatible calls are marked deprecated in the SDK (IMS prefers
# its own /v2/cloudimages); they are still the ones fleet tools use.
warnings.filterwarnings("ignore", category=DeprecationWarning)

import requests  # noqa: E402  (the SDK's own transport)
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkcore.http.http_handler import HttpHandler  # noqa: E402
from huaweicloudsdkcore.sdk_request import SdkRequest  # noqa: E402
from huaweicloudsdkcore.signer.signer import Signer  # noqa: E402
from huaweicloudsdkims.v2 import (  # noqa: E402
    GlanceListImagesRequest,
    GlanceShowImageRequest,
    GlanceUpdateImageRequest,
    GlanceUpdateImageRequestBody,
    ImsClient,
)

import fixtures  # noqa: E402
import sdkverify  # noqa: E402

# The SDK logs every failed call at ERROR on stderr (through logging's
# last-resort handler); the checks report failures themselves.
logging.getLogger("HuaweiCloud-SDK-ImsClient").addHandler(logging.NullHandler())

SIGNED_METRIC = fixtures.SIGNED_METRIC  # imgcache_signed_requests_total{result=…}
SIGNED_METRIC_LABEL = fixtures.SIGNED_METRIC_LABEL

REPEATS = 10  # reads of one image that must make one upstream request
SHOW = "glance_show_image"
LIST = "glance_list_images"
UPDATE = "glance_update_image"


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


@dataclass
class Outcome:
    status: Optional[int]
    body: object = None
    headers: dict = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def cache_status(self):
        return self.headers.get("Cache-Status", "")

    @property
    def hit(self):
        # RFC 9211: `imgcache; hit` (possibly with parameters after `hit`).
        return bool(re.search(r"(^|;)\s*hit\s*(;|$)", self.cache_status))

    def __str__(self):
        if self.error:
            return f"error {self.error}"
        return f"{self.status}" + (f" [Cache-Status: {self.cache_status}]" if self.cache_status else "")


class Caller:
    """One SDK client: one AK/SK pair against one base URL.

    The SDK's response model hides the HTTP headers; an HttpHandler response
    hook sees the raw requests.Response, which is how Cache-Status is read."""

    requests_sent = 0  # all callers; --direct compares it with the upstream's count

    def __init__(self, base, ak, sk=None, project_id=None, x_sdk_date=None):
        cred = fixtures.CREDENTIALS.get(ak, {})
        self.ak = ak
        self._last = None
        config = HttpConfig.get_default_config()
        config.timeout = (5, 30)  # a hung proxy fails the check, not the run
        handler = HttpHandler().add_response_handler(self._seen)
        self.client = (ImsClient.new_builder()
                       .with_http_config(config)
                       .with_credentials(BasicCredentials(ak, sk or cred["sk"], project_id or cred["project_id"]))
                       .with_endpoint(base)
                       .with_http_handler(handler)
                       .build())
        if x_sdk_date:
            # Merged into the request before signing; the Signer keeps an
            # X-Sdk-Date it finds instead of reading the clock.
            self.client.preset_headers["X-Sdk-Date"] = x_sdk_date

    def _seen(self, response=None, **_):
        self._last = response

    def call(self, method, request) -> Outcome:
        self._last = None
        Caller.requests_sent += 1
        try:
            status = getattr(self.client, method)(request).status_code
        except ServiceResponseException as e:  # 4xx/5xx
            status = e.status_code
        except Exception as e:  # connection refused, timeout, …
            return Outcome(None, error=f"{type(e).__name__}: {e}")
        raw = self._last
        # requests' own case-insensitive mapping: header names are
        # case-insensitive, and hyper sends them lower-case.
        outcome = Outcome(status, headers=raw.headers if raw is not None else {})
        if raw is not None:
            try:
                outcome.body = raw.json()
            except ValueError:
                outcome.body = raw.text
        return outcome

    def show(self, image_id):
        return self.call(SHOW, GlanceShowImageRequest(image_id=image_id))

    def list(self, **params):
        return self.call(LIST, GlanceListImagesRequest(**params))

    def rename(self, image_id, name):
        body = [GlanceUpdateImageRequestBody(op="replace", path="/name", value=name)]
        return self.call(UPDATE, GlanceUpdateImageRequest(image_id=image_id, body=body))


class Control:
    """upstream.py's control port."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def _open(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def reset(self):
        self._open("/_reset", "POST")

    def stats(self):
        return self._open("/_stats")


def sdk_date(offset: timedelta) -> str:
    return (datetime.now(timezone.utc) + offset).strftime(sdkverify.DATE_FORMAT)


def image_path(image_id):
    return f"/v2/images/{image_id}"


def new_requests(before, after, method=None, path=None):
    """The upstream's log entries since `before`, optionally for one method/path."""
    entries = after["requests"][len(before["requests"]):]
    return [e for e in entries if (method is None or e["method"] == method) and (path is None or e["path"] == path)]


def statuses(outcomes):
    """Outcomes in brief: `200 x9, 404 x1`."""
    return ", ".join(f"{k} x{n}" for k, n in Counter(str(o) for o in outcomes).items())


def describe(entries):
    return ", ".join(f"{e['result']}/{e['status']} Host={e['host']} Access={e['ak']}" for e in entries) or "none"


class Runner:
    def __init__(self, label=""):
        self.prefix = f"[{label}] " if label else ""
        self.results = []

    def run(self, name, fn):
        try:
            reason = fn()
            ok = True
        except CheckFailed as e:
            ok, reason = False, str(e)
        except Exception as e:  # a broken check must not hide the others
            ok, reason = False, f"check crashed: {type(e).__name__}: {e}"
        self.results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {self.prefix}{name}: {reason}", flush=True)

    @property
    def failed(self):
        return self.results.count(False)


# --- --direct: the harness against the fake IMS itself ------------------------

def direct_checks(args, runner):
    base, control = args.direct, Control(args.control)
    control.reset()
    start = Caller.requests_sent
    a = Caller(base, "AK-PROJECT-A")
    b = Caller(base, "AK-PROJECT-B")
    A, B, PUB = fixtures.IMAGE_PRIVATE_A, fixtures.IMAGE_PRIVATE_B, fixtures.IMAGE_PUBLIC
    raw_requests = 0

    def own_private():
        r = a.show(A)
        expect(r.status == 200, f"AK A -> private A: {r}")
        expect(isinstance(r.body, dict) and r.body.get("id") == A, f"body is not image A: {r.body!r:.200}")
        return f"AK A reads its private image ({r.body['name']!r})"

    def public_and_own():
        r1, r2 = b.show(PUB), b.show(B)
        expect(r1.status == 200 and r2.status == 200, f"AK B -> public {r1}, -> private B {r2}")
        return "AK B reads the public image and its own"

    def isolation():
        r = b.show(A)
        expect(r.status == 404, f"AK B -> private A: {r}, want 404")
        return "AK B gets 404 for project A's private image"

    def list_query():
        r = a.list(limit=5, name=fixtures.PUBLIC_IMAGE_NAME)
        expect(r.status == 200, f"list: {r}")
        ids = [i["id"] for i in r.body.get("images", [])]
        expect(ids == [PUB], f"list by name gave {ids}, want [{PUB}]")
        r = a.list(limit=1)
        expect(r.status == 200 and len(r.body["images"]) == 1 and "next" in r.body, f"limit=1: {r} {r.body!r:.200}")
        return f"list with limit and name={fixtures.PUBLIC_IMAGE_NAME!r} signed and answered"

    def patch_then_get():
        name = f"project-b database renamed ü {time.time_ns()}"
        r = b.rename(B, name)
        expect(r.status == 200 and r.body.get("name") == name, f"PATCH: {r} {r.body!r:.200}")
        r = b.show(B)
        expect(r.status == 200 and r.body.get("name") == name, f"GET after PATCH: {r} name={r.body.get('name')!r}")
        return "PATCH (UNSIGNED-PAYLOAD json-patch) then GET shows the new name"

    def wrong_sk():
        before = control.stats()
        r = Caller(base, "AK-PROJECT-A", sk="not-the-secret-key").show(A)
        seen = new_requests(before, control.stats())
        expect(r.status == 401, f"wrong SK: {r}, want 401")
        expect([e["result"] for e in seen] == [sdkverify.BAD_SIGNATURE], f"upstream saw {describe(seen)}")
        return "wrong SK -> 401 bad_signature"

    def stale_date():
        before = control.stats()
        old = Caller(base, "AK-PROJECT-A", x_sdk_date=sdk_date(-timedelta(minutes=16))).show(A)
        ahead = Caller(base, "AK-PROJECT-A", x_sdk_date=sdk_date(timedelta(minutes=16))).show(A)
        seen = new_requests(before, control.stats())
        expect(old.status == 401 and ahead.status == 401, f"16 min old: {old}, 16 min ahead: {ahead}; want 401")
        expect([e["result"] for e in seen] == [sdkverify.CLOCK_SKEW] * 2, f"upstream saw {describe(seen)}")
        return "X-Sdk-Date 16 min old or ahead -> 401 clock_skew"

    def date_window():
        r = Caller(base, "AK-PROJECT-A", x_sdk_date=sdk_date(-timedelta(minutes=14))).show(A)
        expect(r.status == 200, f"14 min old: {r}, want 200")
        return "X-Sdk-Date 14 min old is still accepted"

    def unknown_ak():
        r = Caller(base, "AK-NOBODY", sk="whatever", project_id=fixtures.PROJECT_A).show(A)
        expect(r.status == 401, f"unknown AK: {r}, want 401")
        return "an AK the upstream does not know -> 401"

    def upstream_only_ak():
        r = Caller(base, "AK-UPSTREAM-ONLY").show(A)
        expect(r.status == 200, f"AK-UPSTREAM-ONLY -> private A: {r}")
        return "AK-UPSTREAM-ONLY (held by the upstream, not the proxy) reads private A"

    def host_is_signed():
        # Signed for one Host: accepted when that Host arrives, refused when
        # another does, so a proxy must either keep Host or re-sign.
        nonlocal raw_requests
        cred = fixtures.CREDENTIALS["AK-PROJECT-A"]
        request = SdkRequest(method="GET", schema="http", host="imgcache.example.test:8080",
                             resource_path=image_path(A), query_params=[],
                             header_params={"Content-Type": "application/json", "X-Project-Id": cred["project_id"]})
        Signer(BasicCredentials("AK-PROJECT-A", cred["sk"])).sign(request)
        kept = requests.get(base + request.uri, headers=request.header_params, timeout=10)
        moved = requests.get(base + request.uri, headers={**request.header_params, "Host": urlsplit(base).netloc},
                             timeout=10)
        raw_requests += 2
        expect(kept.status_code == 200, f"signed Host kept: {kept.status_code}, want 200")
        expect(moved.status_code == 401, f"Host changed after signing: {moved.status_code}, want 401")
        return "the upstream verifies Host as received: kept 200, changed 401"

    def every_request_counted():
        stats = control.stats()
        counted = sum(stats["verified"].values()) + sum(stats["rejected"].values())
        sent = Caller.requests_sent - start + raw_requests
        expect(counted == sent, f"upstream counted {counted} requests, the checks sent {sent}")
        return f"{sent} requests sent, {sum(stats['verified'].values())} verified + " \
               f"{sum(stats['rejected'].values())} rejected {dict(stats['rejected_by_reason'])}"

    for name, fn in [("own-private", own_private), ("public-and-own", public_and_own),
                     ("isolation", isolation), ("list-query", list_query),
                     ("patch-then-get", patch_then_get), ("wrong-sk", wrong_sk),
                     ("stale-date", stale_date), ("date-window", date_window),
                     ("unknown-ak", unknown_ak), ("upstream-only-ak", upstream_only_ak),
                     ("host-is-signed", host_is_signed), ("every-request-counted", every_request_counted)]:
        runner.run(name, fn)


# --- --proxy: through imgcache ------------------------------------------------

def scrape_signed_metric(admin):
    """{result: value} of SIGNED_METRIC, or None if the proxy does not export it."""
    with urllib.request.urlopen(admin.rstrip("/") + "/metrics", timeout=10) as resp:
        text = resp.read().decode("utf-8", "replace")
    values, found = Counter(), False
    line_re = re.compile(rf"^{re.escape(SIGNED_METRIC)}(?:\{{(.*)\}})?\s+(\S+)")
    for line in text.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        found = True
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        values[labels.get(SIGNED_METRIC_LABEL, "")] += float(m.group(2))
    return values if found else None


def proxy_checks(args, runner):
    base, control = args.proxy, Control(args.control)
    proxy_host, upstream_host = urlsplit(base).netloc, urlsplit(args.upstream).netloc
    A, B = fixtures.IMAGE_PRIVATE_A, fixtures.IMAGE_PRIVATE_B
    control.reset()
    try:
        # A labelled counter may have no series before its first increment.
        metrics_before = scrape_signed_metric(args.admin) or Counter()
        metrics_error = None
    except Exception as e:
        metrics_before, metrics_error = None, f"{type(e).__name__}: {e}"
    start = control.stats()
    a = Caller(base, "AK-PROJECT-A")
    b = Caller(base, "AK-PROJECT-B")
    # What each check sent that the proxy should count, per metric result.
    sent = Counter()

    def resigned(entries, ak):
        """All entries arrived re-signed by the proxy: verified, for the upstream's Host."""
        return entries and all(e["result"] == sdkverify.VERIFIED and e["host"] == upstream_host and e["ak"] == ak
                               for e in entries)

    def untouched(entries, ak):
        """All entries arrived as the client signed them: the proxy's Host kept."""
        return entries and all(e["host"] == proxy_host and e["ak"] == ak for e in entries)

    def a_private():
        before = control.stats()
        r = a.show(A)
        sent[sdkverify.VERIFIED] += 1
        seen = new_requests(before, control.stats())
        expect(r.status == 200 and r.body.get("id") == A, f"AK A -> private A through the proxy: {r} {r.body!r:.200}")
        expect(len(seen) == 1 and resigned(seen, "AK-PROJECT-A"),
               f"want one request re-signed for Host {upstream_host}; upstream saw {describe(seen)}")
        return f"200, miss re-signed for Host {upstream_host} [{r.cache_status or 'no Cache-Status'}]"

    def b_cached():
        outcomes = [a.show(A) for _ in range(REPEATS)]
        sent[sdkverify.VERIFIED] += REPEATS
        seen = new_requests(start, control.stats(), "GET", image_path(A))
        expect(all(o.status == 200 for o in outcomes), f"statuses {statuses(outcomes)}")
        expect(len(seen) == 1, f"{REPEATS + 1} reads (incl. check a) made {len(seen)} upstream requests, want 1 "
                               f"(is the proxy's cache empty at start?): {describe(seen)}")
        misses = [str(o) for o in outcomes if not o.hit]
        expect(not misses, f"{len(misses)} of {REPEATS} repeats without a Cache-Status hit: {misses[:3]}")
        return f"{REPEATS + 1} reads, 1 upstream request, repeats: {outcomes[-1].cache_status}"

    def c_isolation():
        before = control.stats()
        r1, r2 = b.show(A), b.show(A)
        own = b.show(B)
        sent[sdkverify.VERIFIED] += 3
        expect(r1.status == 404 and r2.status == 404, f"AK B -> private A (cached for A): {r1}, {r2}; want 404")
        expect(own.status == 200, f"AK B (sk_env) -> private B: {own}")
        seen = new_requests(before, control.stats(), "GET", image_path(B))
        expect(resigned(seen, "AK-PROJECT-B"), f"AK B's miss not re-signed by the proxy: {describe(seen)}")
        return "AK B: 404 for A's cached private image, 200 (re-signed, sk_env key) for its own"

    def d_wrong_sk():
        before = control.stats()
        caller = Caller(base, "AK-PROJECT-A", sk="not-the-secret-key")
        outcomes = [caller.show(A) for _ in range(3)]
        sent[sdkverify.BAD_SIGNATURE] += 3
        seen = new_requests(before, control.stats(), "GET", image_path(A))
        expect(not any(o.status == 200 for o in outcomes), f"a wrong SK got 200: {statuses(outcomes)}")
        expect(all(o.status == 401 for o in outcomes), f"want the upstream's 401: {statuses(outcomes)}")
        expect(len(seen) == 3 and untouched(seen, "AK-PROJECT-A"),
               f"want 3 requests forwarded unchanged (Host {proxy_host}); upstream saw {describe(seen)}")
        return f"3x 401 from the upstream, forwarded with Host {proxy_host} [{outcomes[-1].cache_status or '-'}]"

    def e_stale_date():
        before = control.stats()
        outcomes = [Caller(base, "AK-PROJECT-A", x_sdk_date=sdk_date(-timedelta(minutes=16))).show(A)
                    for _ in range(3)]
        outcomes.append(Caller(base, "AK-PROJECT-A", x_sdk_date=sdk_date(timedelta(minutes=16))).show(A))
        sent[sdkverify.CLOCK_SKEW] += 4
        seen = new_requests(before, control.stats(), "GET", image_path(A))
        expect(not any(o.status == 200 for o in outcomes), f"a stale date got 200: {statuses(outcomes)}")
        expect(all(o.status == 401 for o in outcomes), f"want the upstream's 401: {statuses(outcomes)}")
        expect(len(seen) == 4 and untouched(seen, "AK-PROJECT-A"),
               f"want 4 requests forwarded unchanged (Host {proxy_host}); upstream saw {describe(seen)}")
        return "X-Sdk-Date 16 min old (3x) / ahead (1x): 401 from the upstream, never the cached 200"

    def e_window():
        # A miss (B has not read the public image yet), so the proxy must
        # re-sign it, with a date of its own rather than the client's old one.
        before = control.stats()
        r = Caller(base, "AK-PROJECT-B", x_sdk_date=sdk_date(-timedelta(minutes=14))).show(fixtures.IMAGE_PUBLIC)
        sent[sdkverify.VERIFIED] += 1
        seen = new_requests(before, control.stats(), "GET", image_path(fixtures.IMAGE_PUBLIC))
        expect(r.status == 200, f"X-Sdk-Date 14 min old: {r}, want 200")
        expect(len(seen) == 1 and resigned(seen, "AK-PROJECT-B"), f"want one re-signed request: {describe(seen)}")
        age = datetime.now(timezone.utc).replace(tzinfo=None) - datetime.strptime(seen[0]["x_sdk_date"],
                                                                                   sdkverify.DATE_FORMAT)
        expect(abs(age) < timedelta(minutes=2), f"re-signed with X-Sdk-Date {seen[0]['x_sdk_date']} "
                                                f"({age.total_seconds():.0f}s old), want a new date")
        return f"X-Sdk-Date 14 min old: 200, re-signed with a new X-Sdk-Date [{r.cache_status or '-'}]"

    def f_unknown_to_proxy():
        before = control.stats()
        caller = Caller(base, "AK-UPSTREAM-ONLY")
        outcomes = [caller.show(A) for _ in range(3)]
        sent[sdkverify.UNKNOWN_KEY] += 3
        seen = new_requests(before, control.stats(), "GET", image_path(A))
        expect(all(o.status == 200 for o in outcomes), f"AK-UPSTREAM-ONLY: {statuses(outcomes)}, want 200")
        expect(len(seen) == 3, f"{len(seen)} of 3 calls reached the upstream (cached?): {describe(seen)}")
        expect(untouched(seen, "AK-UPSTREAM-ONLY") and all(e["result"] == sdkverify.VERIFIED for e in seen),
               f"want the client's own signature with Host {proxy_host}: {describe(seen)}")
        hits = [str(o) for o in outcomes if o.hit]
        expect(not hits, f"answered from the cache: {hits}")
        return f"3x 200, each forwarded unchanged (Host {proxy_host}) [{outcomes[-1].cache_status or '-'}]"

    def g_list_query():
        before = control.stats()
        r = a.list(limit=5, name=fixtures.PUBLIC_IMAGE_NAME)
        page = a.list(limit=1)
        sent[sdkverify.VERIFIED] += 2
        seen = new_requests(before, control.stats(), "GET", "/v2/images")
        expect(r.status == 200, f"list by name through the proxy: {r} {r.body!r:.300}")
        ids = [i["id"] for i in r.body.get("images", [])]
        expect(ids == [fixtures.IMAGE_PUBLIC], f"list by name gave {ids}")
        expect(page.status == 200 and len(page.body.get("images", [])) == 1, f"limit=1: {page}")
        expect(len(seen) == 2 and resigned(seen, "AK-PROJECT-A"), f"want 2 re-signed lists: {describe(seen)}")
        return f"200, re-signed query {seen[0]['target'].partition('?')[2]!r}"

    def h_patch_then_get():
        before = control.stats()
        name = f"project-a build agent renamed ü {time.time_ns()}"
        patched = a.rename(A, name)
        after = a.show(A)
        sent[sdkverify.VERIFIED] += 2
        patches = new_requests(before, control.stats(), "PATCH", image_path(A))
        expect(patched.status == 200 and patched.body.get("name") == name, f"PATCH: {patched} {patched.body!r:.200}")
        expect(len(patches) == 1 and resigned(patches, "AK-PROJECT-A"), f"PATCH upstream: {describe(patches)}")
        expect(after.status == 200 and after.body.get("name") == name,
               f"GET after PATCH: {after} name={after.body.get('name') if isinstance(after.body, dict) else None!r}")
        return f"PATCH re-signed (UNSIGNED-PAYLOAD) and GET shows the new name [{after.cache_status or '-'}]"

    def i_inline_sk():
        before = control.stats()
        caller = Caller(base, "AK-PROJECT-A-INLINE")
        outcomes = [caller.show(A), caller.show(A)]
        sent[sdkverify.VERIFIED] += 2
        seen = new_requests(before, control.stats(), "GET", image_path(A))
        expect(all(o.status == 200 for o in outcomes), f"inline-sk AK: {statuses(outcomes)}")
        expect(len(seen) == 1 and resigned(seen, "AK-PROJECT-A-INLINE"),
               f"want 1 re-signed request (own cache entry, then a hit): {describe(seen)}")
        return f"inline sk: 1 re-signed miss, then {outcomes[1].cache_status or '-'}"

    def j_malformed():
        # Not something the SDK sends, so plain requests: an Authorization
        # the proxy cannot parse must pass through like any unverifiable one.
        before = control.stats()
        headers = {"Authorization": f"{sdkverify.ALGORITHM} Access=AK-PROJECT-A",
                   "X-Sdk-Date": sdk_date(timedelta(0)), "X-Project-Id": fixtures.PROJECT_A}
        r = requests.get(base + image_path(A), headers=headers, timeout=30)
        sent[sdkverify.MALFORMED] += 1
        seen = new_requests(before, control.stats(), "GET", image_path(A))
        expect(r.status_code == 401, f"malformed Authorization: {r.status_code} "
                                     f"[{r.headers.get('Cache-Status', '-')}], want the upstream's 401")
        expect(len(seen) == 1 and seen[0]["host"] == proxy_host and seen[0]["result"] == sdkverify.MALFORMED,
               f"want it forwarded unchanged (Host {proxy_host}): {describe(seen)}")
        return f"401 from the upstream, forwarded unchanged [{r.headers.get('Cache-Status', '-')}]"

    def m_metrics():
        expect(metrics_error is None, f"GET {args.admin}/metrics failed: {metrics_error}")
        after = scrape_signed_metric(args.admin)
        expect(after is not None, f"no {SIGNED_METRIC} on {args.admin}/metrics")
        deltas = {k: after[k] - metrics_before.get(k, 0) for k in after}
        short = {k: f"{deltas.get(k, 0):g} (sent {n})" for k, n in sent.items() if deltas.get(k, 0) < n}
        expect(not short, f"{SIGNED_METRIC}{{{SIGNED_METRIC_LABEL}=…}} grew less than sent: {short}; all: {deltas}")
        return f"{SIGNED_METRIC} deltas {deltas}"

    for name, fn in [("a-private-through-proxy", a_private), ("b-cached-per-key", b_cached),
                     ("c-tenant-isolation", c_isolation), ("d-wrong-sk-bypass", d_wrong_sk),
                     ("e-stale-date-bypass", e_stale_date), ("e-date-window", e_window),
                     ("f-unknown-ak-untouched", f_unknown_to_proxy), ("g-list-query-resigned", g_list_query),
                     ("h-patch-then-get", h_patch_then_get), ("i-inline-sk", i_inline_sk),
                     ("j-malformed-untouched", j_malformed), ("m-signed-metric", m_metrics)]:
        runner.run(name, fn)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--direct", metavar="URL", help="upstream.py's API URL")
    mode.add_argument("--proxy", metavar="URL", help="imgcache's client URL")
    parser.add_argument("--control", required=True, metavar="URL", help="upstream.py's control URL")
    parser.add_argument("--upstream", metavar="URL", help="upstream.py's API URL as the proxy is configured (--proxy)")
    parser.add_argument("--admin", metavar="URL", help="imgcache's admin URL (--proxy)")
    parser.add_argument("--label", default="", help="prefix of every result line, e.g. the proxy's name")
    args = parser.parse_args()
    if args.proxy and not (args.upstream and args.admin):
        parser.error("--proxy needs --upstream and --admin")

    runner = Runner(args.label)
    if args.direct:
        direct_checks(args, runner)
    else:
        proxy_checks(args, runner)
    sys.exit(1 if runner.failed else 0)


if __name__ == "__main__":
    main()
