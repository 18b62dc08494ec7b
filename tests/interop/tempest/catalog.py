#!/usr/bin/env python3
"""Puts the image service into Keystone's catalog (run by
tests/interop/tempest/run.sh with the Keystone venv's python; needs only
`requests`).

  catalog.py --keystone URL --admin-password PW --public URL --internal URL

One `image` service (name glance) in RegionOne with three endpoints: public
and admin are Glance itself, internal is imgcache in front of it. Tempest
picks one by `[image] endpoint_type`, so the direct run and the runs through
the proxy differ in that one setting and in nothing else.
"""

import argparse
import sys

import requests

TIMEOUT = 30
REGION = "RegionOne"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--keystone", required=True, help="the v3 root")
    p.add_argument("--admin-password", required=True)
    p.add_argument("--public", required=True, help="Glance")
    p.add_argument("--internal", required=True, help="the proxy")
    args = p.parse_args()
    ks = args.keystone.rstrip("/")
    http = requests.Session()
    http.trust_env = False  # loopback only

    auth = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": args.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    r = http.post(f"{ks}/auth/tokens", json=auth, timeout=TIMEOUT)
    r.raise_for_status()
    http.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]

    r = http.post(f"{ks}/services", timeout=TIMEOUT, json={"service": {
        "type": "image", "name": "glance", "description": "Glance (imgcache tempest harness)"}})
    r.raise_for_status()
    service = r.json()["service"]["id"]
    urls = {"public": args.public, "admin": args.public, "internal": args.internal}
    for interface, url in urls.items():
        r = http.post(f"{ks}/endpoints", timeout=TIMEOUT, json={"endpoint": {
            "service_id": service, "interface": interface, "url": url, "region_id": REGION}})
        r.raise_for_status()
    print(f"catalog: image service {service}: " + ", ".join(f"{i} {u}" for i, u in urls.items()))


if __name__ == "__main__":
    try:
        main()
    except requests.RequestException as e:
        sys.exit(f"catalog.py: {e}")
