"""Reads one image twice with openstacksdk configured as its users configure
it, in a process of its own (checks.py runs it with the environment or the
clouds.yaml under test): `openstack.connect()` with its defaults, so the
SDK itself reads OS_* variables and clouds.yaml, as a script would.

    sdk_probe.py IMAGE_ID [READS]

Prints one JSON line per read: the URLs the SDK requested, the image's id,
and the Cache-Status of the image GET."""

import json
import sys

import openstack


def main():
    image_id = sys.argv[1]
    reads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    conn = openstack.connect()
    seen = []

    def hook(response, *args, **kwargs):
        seen.append((response.request.method, response.url, response.headers.get("Cache-Status", "")))

    conn.session.session.hooks["response"].append(hook)
    for i in range(1, reads + 1):
        seen.clear()
        image = conn.image.get_image(image_id)
        gets = [c for m, u, c in seen if m == "GET" and u.rstrip("/").endswith(f"/images/{image_id}")]
        print(json.dumps({"read": i, "id": image.id, "urls": [u for _, u, _ in seen],
                          "cache_status": gets[-1] if gets else None}), flush=True)


if __name__ == "__main__":
    main()
