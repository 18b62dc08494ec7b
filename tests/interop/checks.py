"""Interop checks: what real Glance clients see through imgcache (PROXY),
compared with what Glance itself answers (DIRECT).

    checks.py seed --direct URL --state FILE
        create the images the checks use, through Glance's real API
    checks.py run --mode MODE --direct URL --proxy URL --state FILE
                  --request-log FILE [--admin URL] [--underscores drop|fold]
                  [--label LABEL] [--only NAME,...] [--no-proxy] [--clients]
        one pass of every check (or of those named) for one transform mode;
        prints `PASS|FAIL|SKIP [label] name[: why]` and exits 1 if any failed;
        --clients adds the `wire-*` checks (wiring.py): every client,
        configured as README's "Pointing clients at imgcache" says, hits
        on its second read
    checks.py header-names [--admin URL]
        the request headers keystonemiddleware, oslo.context and Glance take
        identity or authority from (read from their installed sources), each
        of which must be in the running proxy's cache.identity_headers

Every write goes through PROXY, so the proxy's cache is never stale
because of something the harness did behind its back.
"""

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
import uuid

from clients import (Failed, as_caller, cli, cli_ok, cli_render, cli_show, create_image, exchange, expect,
                     get_image, parse_table, patch_image, sdk, sdk_flat)
from identities import trusted_headers
import header_names
import identity_probes
import wiring

# The spec's example image (querying-image-details.rst), all `__` values
# strings as IMS sends them; `__lazyloading` is "True" as in the real
# capture, and `__os_feature_list` is JSON text as in the IMS spec.
PUBLIC_IMAGE = {
    "name": "CentOS 7.3 64bit vivado",
    "visibility": "public",
    "disk_format": "raw",  # Glance 33 checks data against the format; raw takes any bytes
    "container_format": "bare",
    "min_disk": 100,
    "min_ram": 2048,
    "protected": True,
    "virtual_env_type": "FusionCompute",
    "__image_source_type": "uds",
    "__isregistered": "true",
    "__lazyloading": "True",
    "__os_type": "Linux",
    "__imagetype": "gold",
    "__platform": "CentOS",
    "__os_bit": "64",
    "__os_version": "CentOS 7.3 64bit",
    "__os_feature_list": '{"onekey_resetpasswd": "true"}',
    "__support_kvm": "true",
}

# What each transform mode must make of seeded fields that no check
# changes (docs/design.md, "Extension fields"). `strip` removes every `__` field.
PINNED_EXTENSIONS = {
    "passthrough": {
        "__isregistered": "true",
        "__lazyloading": "True",
        "__os_bit": "64",
        "__os_type": "Linux",
        "__os_feature_list": '{"onekey_resetpasswd": "true"}',
    },
    "normalize": {
        "__isregistered": "true",
        "__lazyloading": "true",
        "__os_bit": "64",
        "__os_type": "Linux",
        "__os_feature_list": '{"onekey_resetpasswd":"true"}',
    },
    "typed": {
        "__isregistered": True,
        "__lazyloading": True,
        "__os_bit": 64,
        "__os_type": "Linux",
        "__os_feature_list": {"onekey_resetpasswd": "true"},
    },
}


# --- expectations per mode -----------------------------------------------------


def view_problems(mode, direct, proxied, render=lambda v: v):
    """How `proxied` (an image as seen through the proxy) differs from what
    `mode` must make of `direct` (the same image from Glance)."""
    problems = []
    for key in sorted(set(direct) | set(proxied)):
        if key.startswith("__"):
            continue
        if direct.get(key) != proxied.get(key):
            problems.append(f"{key}: direct {direct.get(key)!r}, proxy {proxied.get(key)!r}")
    direct_ext = {k: v for k, v in direct.items() if k.startswith("__")}
    proxied_ext = {k: v for k, v in proxied.items() if k.startswith("__")}
    if mode == "strip":
        if proxied_ext:
            problems.append(f"strip left {sorted(proxied_ext)}")
        return problems
    if mode == "passthrough":
        if direct_ext != proxied_ext:
            problems.append(f"`__` fields differ: direct {direct_ext}, proxy {proxied_ext}")
        return problems
    if set(direct_ext) != set(proxied_ext):
        problems.append(f"`__` names differ: direct {sorted(direct_ext)}, proxy {sorted(proxied_ext)}")
    for key, want in PINNED_EXTENSIONS[mode].items():
        if key in direct_ext and proxied_ext.get(key) != render(want):
            problems.append(f"{key}: want {render(want)!r}, proxy {proxied_ext.get(key)!r}")
    if mode == "normalize":
        problems += [f"{k} is not a string: {v!r}" for k, v in proxied_ext.items() if not isinstance(v, str)]
    return problems


def expect_view(mode, direct, proxied, render=lambda v: v):
    problems = view_problems(mode, direct, proxied, render)
    expect(not problems, "; ".join(problems))


def extension_seen(mode, image, key, written):
    """Whether an `__` field written as the string `written` reads back right."""
    if mode == "strip":
        return key not in image
    return image.get(key) == written


# --- checks --------------------------------------------------------------------


class Run:
    """One pass of the checks for one mode."""

    def __init__(self, args):
        self.mode = args.mode
        self.label = "no-proxy" if args.no_proxy else (args.label or args.mode)
        self.direct, self.proxy, self.admin = args.direct, args.proxy, args.admin
        self.underscores = args.underscores
        self.no_proxy = args.no_proxy
        self.only = set(args.only.split(",")) if args.only else None
        self.clients = args.clients
        self.request_log = args.request_log
        self.state_dir = os.path.dirname(os.path.abspath(args.state))
        with open(args.state) as f:
            self.seed = json.load(f)
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        self._probes = None

    def report(self, verdict, name, why=""):
        self.counts[verdict] += 1
        print(f"{verdict} [{self.label}] {name}" + (f": {why}" if why else ""), flush=True)

    def check(self, name, fn):
        """Run one check: it passes by returning None, is skipped by returning
        the reason, and fails by raising."""
        try:
            skipped = fn()
        except Failed as e:
            self.report("FAIL", name, str(e))
        except Exception as e:  # a crash in a check is a failure of that check
            self.report("FAIL", name, f"{type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stdout)
        else:
            self.report("SKIP" if skipped else "PASS", name, skipped or "")

    def all(self):
        checks = [
            ("cli-image-show", self.cli_image_show),
            ("cli-image-list", self.cli_image_list),
            ("sdk-get-image", self.sdk_get_image),
            ("sdk-find-image-by-name", self.sdk_find_image),
            ("error-fidelity", self.error_fidelity),
            ("tenant-isolation", self.tenant_isolation),
            ("cache-effect", self.cache_effect),
            ("cli-image-update", self.cli_image_update),
            ("tags", self.tags),
            ("freshness-after-patch", self.freshness),
            ("image-data-raw", self.image_data_raw),
            ("image-data-cli", self.image_data_cli),
            ("identity-probes-baseline", self.identity_probes_baseline),
            ("identity-probes-security", self.identity_probes_security),
            ("identity-probes-forwarding", self.identity_probes_forwarding),
            ("non-write-methods-keep-cache", self.non_write_methods),
        ]
        if self.mode == "passthrough":
            checks.insert(1, ("passthrough-bytes", self.passthrough_bytes))
        if self.clients:
            checks += [(name, lambda name=name: self.wired_client(name)) for name in wiring.CLIENTS]
        if self.only is not None:
            unknown = self.only - {name for name, _ in checks}
            if unknown:
                raise SystemExit(f"--only names unknown checks: {sorted(unknown)}")
            checks = [(name, fn) for name, fn in checks if name in self.only]
        for name, fn in checks:
            self.check(name, fn)
        return self.counts["FAIL"] == 0

    # -- reads through real clients

    def cli_image_show(self):
        """`glance image-show` through PROXY prints what Glance's own answer,
        transformed by the mode, prints (passthrough: the same text)."""
        image_id = self.seed["public"]
        direct = cli_show(self.direct, "admin", image_id)
        proxied = cli_show(self.proxy, "admin", image_id)
        expect_view(self.mode, direct, proxied, cli_render)

    def cli_image_list(self):
        """`glance image-list` through PROXY prints the same ids and names."""
        direct = cli_ok(self.direct, "a", "image-list")
        proxied = cli_ok(self.proxy, "a", "image-list")
        expect(direct == proxied, f"direct:\n{direct}\nproxy:\n{proxied}")
        expect(self.seed["private"] in proxied, "A's private image missing from A's list")

    def sdk_get_image(self):
        """openstacksdk get_image by id through PROXY; every request went to PROXY."""
        image_id = self.seed["public"]
        direct = sdk_flat(sdk(self.direct, "admin")[0].image.get_image(image_id))
        conn, urls = sdk(self.proxy, "admin")
        proxied = sdk_flat(conn.image.get_image(image_id))
        expect(all(u.startswith(self.proxy + "/") for u in urls), f"SDK left the proxy: {urls}")
        expect_view(self.mode, direct, proxied)

    def sdk_find_image(self):
        """openstacksdk find_image by name through PROXY (a 404 on /v2/images/{name},
        then the ?name= list) finds the image with the mode's fields."""
        name = PUBLIC_IMAGE["name"]
        direct = sdk(self.direct, "admin")[0].image.find_image(name)
        conn, urls = sdk(self.proxy, "admin")
        proxied = conn.image.find_image(name)
        expect(proxied is not None and proxied.id == self.seed["public"], f"find_image({name!r}) gave {proxied}")
        expect(all(u.startswith(self.proxy + "/") for u in urls), f"SDK left the proxy: {urls}")
        expect_view(self.mode, sdk_flat(direct), sdk_flat(proxied))

    def passthrough_bytes(self):
        """In passthrough, image show through PROXY is byte for byte Glance's."""
        for caller, image_id in (("admin", self.seed["public"]), ("a", self.seed["private"])):
            direct = exchange(self.direct, "GET", f"/v2/images/{image_id}", as_caller(caller))
            proxied = exchange(self.proxy, "GET", f"/v2/images/{image_id}", as_caller(caller))
            expect(direct.status == 200, f"direct {direct.status}")
            expect(direct.wire() == proxied.wire(),
                   f"{caller}: direct {direct.wire()!r}\nproxy {proxied.wire()!r}")

    # -- errors and identity

    def error_fidelity(self):
        """A missing image: status, Content-Type and body bytes through PROXY
        equal Glance's, for each Accept (*/* HTML, JSON, none: plain text)."""
        path = f"/v2/images/{uuid.uuid4()}"
        for accept in ("*/*", "application/json", None):
            headers = trusted_headers("admin")
            if accept:
                headers["Accept"] = accept
            direct = exchange(self.direct, "GET", path, headers)
            expect(direct.status == 404, f"direct answered {direct.status}")
            for attempt in (1, 2):
                proxied = exchange(self.proxy, "GET", path, headers)
                expect(proxied.wire() == direct.wire(),
                       f"Accept {accept}, try {attempt}: direct {direct.wire()!r}\nproxy {proxied.wire()!r}")

    def tenant_isolation(self):
        """A reads its private image through PROXY (twice, so it is cached);
        B, an anonymous caller and a caller with A's headers but an invalid
        identity then get exactly Glance's own answer: 404 / 401, never A's body."""
        image_id = self.seed["private"]
        path = f"/v2/images/{image_id}"
        first = exchange(self.proxy, "GET", path, as_caller("a"))
        second = exchange(self.proxy, "GET", path, as_caller("a"))
        for resp in (first, second):
            expect(resp.status == 200, f"A got {resp.status}")
            expect(resp.json()["owner"] == "project-a", f"A got {resp.body[:200]!r}")
        expect(first.body == second.body, "A's two reads differ")
        forged = {**trusted_headers("a"), "X-Identity-Status": "Invalid", "Accept": "application/json"}
        others = {"B": (as_caller("b"), 404), "anonymous": ({"Accept": "application/json"}, 401),
                  "A's headers, identity Invalid": (forged, 401)}
        for who, (headers, status) in others.items():
            direct = exchange(self.direct, "GET", path, headers)
            proxied = exchange(self.proxy, "GET", path, headers)
            expect(direct.status == status, f"{who}: Glance itself answered {direct.status}")
            expect(b"project-a" not in proxied.body, f"{who} got A's image through the proxy")
            expect(proxied.wire() == direct.wire(), f"{who}: direct {direct.wire()!r}\nproxy {proxied.wire()!r}")

    def cache_effect(self):
        """20 GETs of one image by one caller through PROXY reach Glance once
        (counted in uWSGI's request log)."""
        image_id = self.seed["public"]
        # A caller no earlier request used, so the first GET is a miss.
        headers = as_caller("admin", **{"X-User-Id": f"cache-probe-{uuid.uuid4()}"})
        before = self.glance_gets(image_id)
        bodies = {exchange(self.proxy, "GET", f"/v2/images/{image_id}", headers).body for _ in range(20)}
        seen = self.glance_gets(image_id) - before
        expect(len(bodies) == 1, f"{len(bodies)} different bodies")
        if self.no_proxy:
            expect(seen == 20, f"request-log counter is broken: Glance logged {seen} of 20 GETs")
            return f"needs the cache; IMGCACHE_INTEROP_NO_PROXY=1 (Glance itself logged {seen} of 20 GETs)"
        expect(seen == 1, f"Glance saw {seen} GETs for 20 through the proxy")

    def glance_gets(self, image_id):
        """How many `GET /v2/images/{id}` Glance has logged, once the log has
        caught up: a marker request sent now must be in it first. uWSGI's
        workers each log a request after answering it, so another worker's
        marker line can overtake the line of a request answered just before
        it: the count is read again a moment after the marker shows."""
        marker = f"/versions?log-marker={uuid.uuid4()}"
        exchange(self.direct, "GET", marker)
        deadline = time.monotonic() + 10

        def logged():
            with open(self.request_log) as f:
                return [line.split()[:2] for line in f]  # [method, uri]

        while ["GET", marker] not in logged():
            expect(time.monotonic() < deadline, "uWSGI request log did not catch up in 10 s")
            time.sleep(0.02)
        time.sleep(0.3)
        return logged().count(["GET", f"/v2/images/{image_id}"])

    # -- every client wired as the README says (wiring.py)

    def wired_client(self, name):
        """One client, configured only as README's "Pointing clients at
        imgcache" says (its cloud endpoint otherwise pointing at Glance),
        reads a fresh image twice: every request it sent went to PROXY,
        Glance logged one GET of the image (the second read was answered by
        the cache), and the second read's Cache-Status says hit."""
        reader, what = wiring.CLIENTS[name]
        if self.no_proxy:
            return "needs the cache; IMGCACHE_INTEROP_NO_PROXY=1"
        if name.startswith("wire-gophercloud"):
            missing = wiring.gophercloud_available()
            if missing:
                return missing
        # A new image that nobody has read: the first read must be a miss.
        image_id = create_image(self.proxy, "a", {"name": f"{name}-{self.label}", "disk_format": "raw",
                                                  "container_format": "bare", "visibility": "private"},
                                b"wired client " + name.encode())
        before = self.glance_gets(image_id)
        with wiring.tempdir() as home:
            reads = reader(self.proxy, self.direct, image_id, "a", home)
        seen = self.glance_gets(image_id) - before
        urls = [u for r in reads for u in r["urls"]]
        expect(all(r["urls"] for r in reads), f"{what}: no request URLs seen (the output format changed?): {reads}")
        strays = [u for u in urls if u != self.proxy and not u.startswith(self.proxy + "/")]
        expect(not strays, f"{what}: requests that bypassed the proxy: {strays}")
        expect(seen == 1, f"{what}: Glance logged {seen} GETs of the image for 2 reads through the proxy "
                          f"(want 1: the second read answered by the cache)")
        statuses = [r["cache_status"] for r in reads]
        expect(statuses[1] is not None, f"{what}: the second read showed no Cache-Status: {reads[1]}")
        expect(wiring.is_hit(statuses[1]) and not wiring.is_hit(statuses[0]),
               f"{what}: Cache-Status first {statuses[0]!r}, second {statuses[1]!r} (want a miss, then a hit)")
        print(f"    {name}: {what}: {len(urls)} requests, all to the proxy; Glance saw 1 GET; "
              f"Cache-Status {statuses[0]!r} then {statuses[1]!r}", flush=True)

    # -- identity probes (identity_probes.py): underscores, aliases, duplicates

    def probe_run(self):
        """Sends every identity probe once per pass (the three checks below
        judge the same answers); prints what Glance and the proxy answered."""
        if isinstance(self._probes, Exception):
            raise self._probes  # the run broke off; every check that needs it fails the same way
        if self._probes is None:
            def same_view(direct_body, proxied_body):
                if self.mode == "passthrough":
                    return [] if direct_body == proxied_body else [
                        f"body differs: Glance {direct_body[:120]!r}, proxy {proxied_body[:120]!r}"]
                return view_problems(self.mode, json.loads(direct_body), json.loads(proxied_body))

            run = identity_probes.ProbeRun(
                proxy=self.proxy, direct=self.direct, admin=self.admin, image_id=self.seed["private"],
                label=self.label, underscores=self.underscores, same_view=same_view,
                out_dir=self.state_dir, no_proxy=self.no_proxy)
            started = time.monotonic()
            try:
                plist = run.run()
            except Exception as e:
                self._probes = e
                raise
            print(f"identity probes [{self.label}]: {len(plist)} probes, {len(run.rows)} proxied answers, "
                  f"underscore headers: {self.underscores}, {time.monotonic() - started:.0f} s "
                  f"(every answer: identity-probes-{self.label}.tsv beside the seed state)")
            for line in run.summary(plist) + [f"    {line}" for line in run.coverage]:
                print(line)
            if run.notes:
                print("    proxied 200s that Glance gives only to the request without the `_` lines the proxy drops "
                      "(the caller sent that identity in clear: not a leak):")
                for line in run.grouped(run.notes, plist):
                    print(f"      {line}")
            self._probes = run
            self._plist = plist
        return self._probes

    @staticmethod
    def expect_none(problems, what):
        shown = problems[:80]
        more = f"\n      ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        expect(not problems, f"{len(problems)} {what}:\n      " + "\n      ".join(shown) + more)

    def identity_probes_baseline(self):
        """Glance itself answers every fill with 200 and every probe with the
        status the probe is written for, and hits come both from the hit
        path and from hyper (the probes test something)."""
        self.expect_none(self.probe_run().baseline, "of the probes' premises do not hold")

    def identity_probes_security(self):
        """No proxied 200 for a request Glance itself refuses: the same
        image for the very same request (drop mode: or for that request
        without the `_` lines the proxy drops), on the hit path and on
        connections handed to hyper, after fills by other identities."""
        run = self.probe_run()
        self.expect_none(run.grouped(run.security, self._plist), "probes got proxied 200s that Glance does not give")

    def identity_probes_forwarding(self):
        """Drop mode: every probe through PROXY gets Glance's status for the
        request without its `_`-named lines; fold mode: Glance's status for
        the very same request."""
        if self.no_proxy:
            return "needs the proxy; IMGCACHE_INTEROP_NO_PROXY=1"
        run = self.probe_run()
        self.expect_none(run.fills + run.grouped(run.forwarding, self._plist),
                         "fills or probes got proxied answers that differ from Glance's")

    def non_write_methods(self):
        """OPTIONS, FOO, lower-case get and patch, HEAD on an image, sent
        without identity, leave the cache alone: the filler's next read is
        a hit. Lower-case `get` is not answered from the cache."""
        if self.no_proxy:
            return "needs the cache; IMGCACHE_INTEROP_NO_PROXY=1"
        report, problems = identity_probes.non_write_methods(
            self.proxy, self.direct, self.admin, self.seed["private"],
            identity_probes.spell("trusted", "a"))
        for line in report:
            print(line)
        self.expect_none(problems, "methods that write nothing changed the cache")

    # -- writes through the proxy

    def cli_image_update(self):
        """`glance image-update --property __os_version=X` through PROXY, then
        image-show through PROXY shows X (strip: shows no `__` field, Glance
        has X). typed: glanceclient validates the typed body against Glance's
        string schema before patching, so the update must fail, changing nothing."""
        image_id = self.seed["public"]
        value = f"cli-{self.label}-{uuid.uuid4().hex[:8]}"
        before = get_image(self.direct, image_id, "admin")["__os_version"]
        proc = cli(self.proxy, "admin", "image-update", "--property", f"__os_version={value}", image_id)
        stored = get_image(self.direct, image_id, "admin")["__os_version"]
        if self.mode == "typed":
            expect(proc.returncode != 0 and "is not of type 'string'" in proc.stderr,
                   f"want glanceclient's schema error, got exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
            expect(stored == before, f"failed update still changed __os_version to {stored!r}")
            return None
        expect(proc.returncode == 0, f"image-update exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        expect(stored == value, f"Glance has {stored!r}")
        shown = cli_show(self.proxy, "admin", image_id)
        expect(extension_seen(self.mode, shown, "__os_version", value),
               f"image-show through the proxy: __os_version {shown.get('__os_version')!r}")

    def tags(self):
        """Adding and removing a tag through PROXY shows at once through PROXY."""
        image_id = self.seed["tagged"]
        tag = f"interop-{self.label}"
        expect(get_image(self.proxy, image_id, "admin")["tags"] == get_image(self.direct, image_id, "admin")["tags"],
               "tags differ")
        for method, present in (("PUT", True), ("DELETE", False)):
            resp = exchange(self.proxy, method, f"/v2/images/{image_id}/tags/{tag}", as_caller("admin"))
            expect(resp.status == 204, f"{method} tag: {resp.status}")
            tags = get_image(self.proxy, image_id, "admin")["tags"]
            expect((tag in tags) == present, f"after {method} tag: {tags}")

    def freshness(self):
        """50 times: PATCH through PROXY, then GET through PROXY at once as the
        writer and as another caller who had it cached: the new value."""
        image_id = self.seed["public"]
        get_image(self.proxy, image_id, "a")  # A's entry now cached too
        for i in range(50):
            value = f"fresh-{self.label}-{i}-{uuid.uuid4().hex[:6]}"
            patch_image(self.proxy, image_id, "admin", {"x_interop_seq": value, "__os_version": value})
            for caller in ("admin", "a"):
                image = get_image(self.proxy, image_id, caller)
                expect(image.get("x_interop_seq") == value and extension_seen(self.mode, image, "__os_version", value),
                       f"round {i}, {caller}: x_interop_seq {image.get('x_interop_seq')!r}, "
                       f"__os_version {image.get('__os_version')!r}, wrote {value!r}")

    def image_data_raw(self):
        """PUT /file of 3 MiB through PROXY, GET /file through PROXY: same bytes;
        Glance's checksum and the image record agree."""
        data = os.urandom(3 * 1024 * 1024 + 17)
        image_id = create_image(self.proxy, "a", {"name": f"data-raw-{self.label}", "disk_format": "raw",
                                                  "container_format": "bare", "visibility": "private"}, data)
        image = get_image(self.proxy, image_id, "a")
        md5 = hashlib.md5(data).hexdigest()
        expect((image["status"], image["size"], image["checksum"]) == ("active", len(data), md5),
               f"image after upload: {image['status']}, {image['size']}, {image['checksum']}")
        resp = exchange(self.proxy, "GET", f"/v2/images/{image_id}/file", as_caller("a"))
        expect(resp.status == 200, f"download: {resp.status}")
        expect(hashlib.sha256(resp.body).digest() == hashlib.sha256(data).digest(),
               f"downloaded {len(resp.body)} bytes differ from the {len(data)} uploaded")
        expect(resp.headers.get("Content-MD5") == md5, f"Content-MD5 {resp.headers.get('Content-MD5')}")

    def image_data_cli(self):
        """`glance image-create --file` (a chunked upload) and `glance
        image-download` through PROXY round-trip 2 MiB."""
        data = os.urandom(2 * 1024 * 1024 + 5)
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "up.raw"), os.path.join(tmp, "down.raw")
            with open(src, "wb") as f:
                f.write(data)
            created = parse_table(cli_ok(self.proxy, "a", "image-create", "--name", f"data-cli-{self.label}",
                                         "--disk-format", "raw", "--container-format", "bare",
                                         "--visibility", "private", "--file", src))
            cli_ok(self.proxy, "a", "image-download", "--file", dst, created["id"])
            with open(dst, "rb") as f:
                expect(f.read() == data, "downloaded bytes differ from the uploaded ones")
        expect(get_image(self.proxy, created["id"], "a")["checksum"] == hashlib.md5(data).hexdigest(),
               "Glance's checksum differs")


# --- seeding -------------------------------------------------------------------


def seed(direct, state_path):
    """The images every pass uses, created on Glance directly before any proxy runs.
    All are active (image data uploaded): only active images are cached."""
    data = bytes(range(256)) * 16  # 4 KiB
    state = {
        "public": create_image(direct, "admin", PUBLIC_IMAGE, data),
        "private": create_image(direct, "a", {"name": "private-a", "visibility": "private", "disk_format": "raw",
                                              "container_format": "bare"}, data),
        "tagged": create_image(direct, "admin", {"name": "tagged", "visibility": "public", "disk_format": "raw",
                                                 "container_format": "bare", "tags": ["gold", "centos"],
                                                 "__os_type": "Linux"}, data),
    }
    with open(state_path, "w") as f:
        json.dump(state, f)
    print(f"seeded Glance: {state}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_seed = sub.add_parser("seed")
    p_seed.add_argument("--direct", required=True)
    p_seed.add_argument("--state", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--mode", required=True, choices=["passthrough", "strip", "normalize", "typed"])
    p_run.add_argument("--direct", required=True)
    p_run.add_argument("--proxy", required=True)
    p_run.add_argument("--state", required=True)
    p_run.add_argument("--request-log", required=True)
    p_run.add_argument("--no-proxy", action="store_true", help="PROXY is Glance itself")
    p_run.add_argument("--admin", help="the proxy's admin listener (cache purges)")
    p_run.add_argument("--underscores", choices=["drop", "fold"], default="drop",
                       help="what the proxy is configured to do with `_` header names")
    p_run.add_argument("--label", help="name of this pass in the output (default: the mode)")
    p_run.add_argument("--only", help="comma-separated names of the checks to run")
    p_run.add_argument("--clients", action="store_true",
                       help="add the wire-* checks: every client configured as the README says hits on its 2nd read")
    p_names = sub.add_parser("header-names")
    p_names.add_argument("--admin", help="the proxy's admin listener; without it the names are only listed")
    p_names.add_argument("--label", default="names")
    args = parser.parse_args()
    if args.command == "seed":
        seed(args.direct, args.state)
        return 0
    if args.command == "header-names":
        return header_names_check(args.admin, args.label)
    if args.command == "run" and not args.no_proxy and not args.admin:
        parser.error("run needs --admin (or --no-proxy)")
    return 0 if Run(args).all() else 1


def header_names_check(admin, label):
    """One PASS/FAIL line, `identity-header-names`, after the list of names."""
    name = "identity-header-names"
    try:
        report, problems = header_names.check(admin)
    except header_names.ExtractionError as e:
        print(f"FAIL [{label}] {name}: {e}", flush=True)
        return 1
    print("\n".join(report))
    if not admin:
        print(f"SKIP [{label}] {name}: no proxy to compare with (the names are listed above)", flush=True)
        return 0
    if problems:
        print(f"FAIL [{label}] {name}: {len(problems)} identity headers missing from the proxy's list:\n      "
              + "\n      ".join(problems), flush=True)
        return 1
    print(f"PASS [{label}] {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
