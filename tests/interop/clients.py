"""How the interop checks talk to Glance and to the proxy: raw HTTP with
exactly the headers a check chooses, python-glanceclient's `glance` CLI,
and openstacksdk."""

import http.client
import json
import os
import subprocess
import sys
import urllib.parse

import openstack

from rawhttp import CA_FILE, tls_context

from identities import token, trusted_headers

JSON_PATCH = "application/openstack-images-v2.1-json-patch"

# requests lets these override a session's own `verify` (glanceclient sets
# --os-cacert there): a machine that sets them would make the CLI ignore
# the private CA of the https pass.
CA_BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class Failed(Exception):
    """A check's expectation did not hold."""


def expect(condition, message):
    if not condition:
        raise Failed(message)


# --- raw HTTP ------------------------------------------------------------------


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def wire(self):
        """What must be equal through the proxy for an error: status, type, bytes."""
        return (self.status, self.headers.get("Content-Type"), self.body)


def exchange(base, method, path, headers=None, body=None):
    """One request on its own connection, with exactly the given headers
    (http.client adds only Host; no Accept, no Accept-Encoding)."""
    url = urllib.parse.urlsplit(base)
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=30, context=tls_context())
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.putrequest(method, url.path.rstrip("/") + path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def as_caller(name, **extra):
    return {**trusted_headers(name), "Accept": "application/json", **extra}


def get_image(base, image_id, caller):
    resp = exchange(base, "GET", f"/v2/images/{image_id}", as_caller(caller))
    expect(resp.status == 200, f"GET {image_id} as {caller} on {base}: {resp.status} {resp.body[:200]!r}")
    return resp.json()


def patch_image(base, image_id, caller, changes):
    ops = [{"op": "add", "path": f"/{k}", "value": v} for k, v in changes.items()]
    resp = exchange(base, "PATCH", f"/v2/images/{image_id}",
                    as_caller(caller, **{"Content-Type": JSON_PATCH}), json.dumps(ops).encode())
    expect(resp.status == 200, f"PATCH {image_id}: {resp.status} {resp.body[:200]!r}")


def create_image(base, caller, properties, data=None):
    resp = exchange(base, "POST", "/v2/images",
                    as_caller(caller, **{"Content-Type": "application/json"}),
                    json.dumps(properties).encode())
    expect(resp.status == 201, f"create {properties.get('name')}: {resp.status} {resp.body[:300]!r}")
    image_id = resp.json()["id"]
    if data is not None:
        upload(base, caller, image_id, data)
    return image_id


def upload(base, caller, image_id, data):
    resp = exchange(base, "PUT", f"/v2/images/{image_id}/file",
                    as_caller(caller, **{"Content-Type": "application/octet-stream"}), data)
    expect(resp.status == 204, f"upload {image_id}: {resp.status} {resp.body[:200]!r}")


# --- clients -------------------------------------------------------------------


def cli(base, caller, *args):
    """Run python-glanceclient's `glance` against `base` with the caller's token.

    --os-image-url + --os-auth-token make the CLI skip keystone entirely;
    Glance's `tokenidentity` filter turns the token into the caller's
    identity. OS_* variables from the environment are dropped so that no
    cloud config of the machine can redirect the CLI (nor CA bundle
    variables override --os-cacert). stdin is /dev/null,
    never the harness's own: the CLI uploads a non-tty stdin as image data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k not in CA_BUNDLE_VARS}
    glance = os.path.join(os.path.dirname(sys.executable), "glance")
    cmd = [glance, "--os-image-url", base, "--os-auth-token", token(caller)]
    if base.startswith("https://"):
        cmd += ["--os-cacert", CA_FILE]  # the private CA of IMGCACHE_INTEROP_CA
    cmd += args
    return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def cli_ok(base, caller, *args):
    proc = cli(base, caller, *args)
    expect(proc.returncode == 0, f"glance {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return proc.stdout


def cli_show(base, caller, image_id):
    """`glance image-show` as a dict of its table rows (values as printed)."""
    return parse_table(cli_ok(base, caller, "image-show", "--max-column-width", "100000", image_id))


def parse_table(text):
    rows, key = {}, None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        name, value = (cell.strip() for cell in line.strip().strip("|").split("|", 1))
        if name == "Property" and value == "Value":
            continue
        if name:
            key = name
            rows[key] = value
        elif key:  # a wrapped value continues on the next row
            rows[key] += value
    return rows


def cli_render(value):
    """How glanceclient prints a JSON value in a table cell."""
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def sdk(base, caller):
    """An openstacksdk connection to `base` as `caller`, and the URLs it hit.

    keystoneauth's `admin_token` plugin is a fixed token for a fixed
    endpoint, used for every service with no keystone and no discovery; the
    endpoint carries /v2 because openstacksdk appends only /images/...."""
    tls = {"cacert": CA_FILE} if base.startswith("https://") else {}
    conn = openstack.connect(auth_type="admin_token",
                             auth={"endpoint": base + "/v2", "token": token(caller)},
                             load_yaml_config=False, load_envvars=False, **tls)
    urls = []
    conn.session.session.hooks["response"].append(lambda r, *a, **k: urls.append(r.url))
    return conn, urls


def sdk_flat(image):
    """An SDK Image as one flat dict; `__` fields live in its `properties`."""
    data = image.to_dict(computed=False)
    data.update(data.pop("properties", None) or {})
    return data
