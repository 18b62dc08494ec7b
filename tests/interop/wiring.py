"""Each client pointed at imgcache the way README's "Pointing clients at
imgcache" says, and nothing else: every client reads one image twice, and
checks.py (the `wire-*` checks) judges what it did.

Each reader returns one dict per read: `urls`, the URLs the client
requested, and `cache_status`, the Cache-Status of the image GET (None if
the client's output showed none); the CLIs show both in their --debug
output, the libraries through a response hook (openstacksdk) or the
response headers (gophercloud).

The clients get the cloud's "real" endpoint pointing at Glance itself
(DIRECT) wherever they have one (the admin_token plugin's endpoint, which
stands in for the catalog): a client that ignores its imgcache setting goes
to Glance and is caught, by its URLs and by Glance's own request log."""

import json
import os
import re
import subprocess
import sys
import tempfile

from clients import CA_BUNDLE_VARS
from identities import token

BIN = os.path.dirname(sys.executable)
HERE = os.path.dirname(os.path.abspath(__file__))
HIT = re.compile(r"(^|;)\s*hit\s*(;|$)")


def is_hit(cache_status):
    return bool(cache_status and HIT.search(cache_status))


def clean_env(home, **extra):
    """The harness's environment without any OS_* setting, CA bundle override
    or clouds.yaml of this machine (HOME is an empty directory, and
    XDG_CONFIG_HOME is unset), plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in CA_BUNDLE_VARS and k != "XDG_CONFIG_HOME"}
    env["HOME"] = home
    env.update(extra)
    return env


def run(cmd, env, timeout=120):
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(cmd[0])} exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
    return proc


# --- CLIs: what --debug shows ---------------------------------------------------

# glanceclient: "curl -g -i -X GET -H ... http://host/v2/images/ID";
# keystoneauth (openstack CLI): "REQ: curl -g -i -X GET http://host/... -H ...".
CURL_URL = re.compile(r"curl -g -i -X \w+ .*?(https?://\S+)")


def debug_reads(stderr, image_id):
    """URLs of every request and the Cache-Status of the image GET, from a
    CLI's --debug output (glanceclient and keystoneauth both log each
    request as a curl command, then its response's headers)."""
    urls, status, current, last = [], None, None, None
    for line in stderr.splitlines():
        m = CURL_URL.search(line)
        if m:
            # glanceclient --debug writes each curl line twice (print and logger).
            if line[m.start():] != last:
                current = m.group(1).strip("'\"")
                urls.append(current)
            last = line[m.start():]
            continue
        m = re.search(r"cache-status:\s*(.*)", line, re.IGNORECASE)
        if m and current and current.rstrip("/").endswith(f"/images/{image_id}"):
            # keystoneauth prints all headers on one line: "Name: value Name2: value2".
            status = re.split(r"\s+[A-Za-z][A-Za-z0-9-]*:\s", m.group(1))[0].strip()
    return {"urls": urls, "cache_status": status}


def glance_cli_env(proxy, caller, home):
    """python-glanceclient's `glance`, configured by environment alone:
    OS_IMAGE_URL (the proxy) and OS_AUTH_TOKEN (no Keystone)."""
    return clean_env(home, OS_IMAGE_URL=proxy, OS_AUTH_TOKEN=token(caller))


def glance_cli(proxy, direct, image_id, caller, home):
    env = glance_cli_env(proxy, caller, home)
    return [debug_reads(run([os.path.join(BIN, "glance"), "--debug", "image-show", image_id], env).stderr, image_id)
            for _ in range(2)]


def admin_token_env(direct, caller, home, **extra):
    """openstacksdk / the openstack CLI with keystoneauth's admin_token plugin:
    a fixed token for a fixed endpoint (OS_ENDPOINT), here Glance itself,
    standing in for the catalog's image endpoint."""
    return clean_env(home, OS_AUTH_TYPE="admin_token", OS_ENDPOINT=direct + "/v2", OS_TOKEN=token(caller), **extra)


def openstack_cli(proxy, direct, image_id, caller, home):
    """python-openstackclient: `openstack image show` with
    OS_IMAGE_ENDPOINT_OVERRIDE (the proxy)."""
    env = admin_token_env(direct, caller, home, OS_IMAGE_ENDPOINT_OVERRIDE=proxy)
    return [debug_reads(run([os.path.join(BIN, "openstack"), "--debug", "image", "show", "-f", "json", image_id],
                            env).stderr, image_id)
            for _ in range(2)]


# --- openstacksdk: sdk_probe.py in a process of its own ------------------------


def sdk_probe(env, image_id):
    proc = run([sys.executable, os.path.join(HERE, "sdk_probe.py"), image_id, "2"], env)
    reads = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if len(reads) != 2 or any(r["id"] != image_id for r in reads):
        raise RuntimeError(f"sdk_probe.py printed {proc.stdout[-400:]!r}")
    return reads


def sdk_env_override(proxy, direct, image_id, caller, home):
    """openstack.connect() reading OS_IMAGE_ENDPOINT_OVERRIDE."""
    return sdk_probe(admin_token_env(direct, caller, home, OS_IMAGE_ENDPOINT_OVERRIDE=proxy), image_id)


def sdk_clouds_yaml(proxy, direct, image_id, caller, home):
    """openstack.connect() reading clouds.yaml's image_endpoint_override
    (the cloud named by OS_CLOUD, the file by OS_CLIENT_CONFIG_FILE)."""
    path = os.path.join(home, "clouds.yaml")
    with open(path, "w") as f:
        f.write(clouds_yaml(proxy, direct, caller))
    return sdk_probe(clean_env(home, OS_CLOUD="interop", OS_CLIENT_CONFIG_FILE=path), image_id)


def clouds_yaml(proxy, direct, caller):
    # JSON is YAML: no quoting surprises.
    return json.dumps({"clouds": {"interop": {
        "auth_type": "admin_token",
        "auth": {"endpoint": direct + "/v2", "token": token(caller)},
        "image_endpoint_override": proxy,
    }}}, indent=2)


# --- gophercloud: the Go probe run.sh built -------------------------------------


def gophercloud(style):
    def read(proxy, direct, image_id, caller, home):
        binary = os.environ.get("IMGCACHE_INTEROP_GOPHERCLOUD")
        proc = subprocess.run([binary, "-style", style, "-base", proxy, "-token", token(caller), "-image", image_id],
                              env=clean_env(home), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)
        reads = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or len(reads) != 2:
            raise RuntimeError(f"gophercloud-probe exited {proc.returncode}: {proc.stdout[-400:]} {proc.stderr[-400:]}")
        return reads
    return read


def gophercloud_available():
    """None if the Go probe is there, else why not."""
    binary = os.environ.get("IMGCACHE_INTEROP_GOPHERCLOUD")
    if not binary:
        return "IMGCACHE_INTEROP_GOPHERCLOUD is not set (run.sh sets it after building the probe)"
    if not os.access(binary, os.X_OK):
        return f"no gophercloud probe at {binary}"
    return None


# name -> (reader, what it shows the check: which setting is under test)
CLIENTS = {
    "wire-glanceclient-os-image-url": (glance_cli, "glance CLI, OS_IMAGE_URL + OS_AUTH_TOKEN"),
    "wire-openstack-cli-endpoint-override": (openstack_cli, "openstack CLI, OS_IMAGE_ENDPOINT_OVERRIDE"),
    "wire-openstacksdk-env-override": (sdk_env_override, "openstacksdk, OS_IMAGE_ENDPOINT_OVERRIDE"),
    "wire-openstacksdk-clouds-yaml": (sdk_clouds_yaml, "openstacksdk, clouds.yaml image_endpoint_override"),
    "wire-gophercloud-manual-endpoint": (gophercloud("manual"), "gophercloud, ServiceClient with a manual endpoint"),
    "wire-gophercloud-terraform-override": (gophercloud("terraform"),
                                            "gophercloud as terraform-provider-openstack's endpoint_overrides"),
}


def tempdir():
    return tempfile.TemporaryDirectory(prefix="imgcache-wire-")
