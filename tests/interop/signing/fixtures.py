"""Shared test data of the signing harness: projects, AK/SK pairs, images.

upstream.py serves these images and knows these credentials; check.py
calls with them; run.sh gives the proxy only some of them (see CREDENTIALS).
Every key here is fake and exists only in this harness.

    python fixtures.py credentials-json   # the AK -> {sk, project_id} table upstream.py takes
    python fixtures.py sk AK              # one secret key, for run.sh's proxy config

bench_images(n) is the benchmark's extra set (upstream.py --bench-images N,
bench.py): n private images of project A, none of them in the seed above.
"""

import copy
import json
import sys
import uuid

# IAM project ids are 32 lower-case hex digits.
PROJECT_A = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"
PROJECT_B = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
# Owner of the public ("gold") image: the IMS operator's project.
PROJECT_IMS = "0000000000000000000000000000c0de"

# Which of these the proxy holds is decided by run.sh; the comments say what
# each one is for in check.py.
CREDENTIALS = {
    # Proxy: sk_file. The main caller.
    "AK-PROJECT-A": {"sk": "sk-project-a-2f9c1e7b4d5a6c8e0f1a2b3c4d5e6f70", "project_id": PROJECT_A},
    # Proxy: sk_env. Another tenant: must never see A's private image.
    "AK-PROJECT-B": {"sk": "sk-project-b-8e7d6c5b4a39281706f5e4d3c2b1a090", "project_id": PROJECT_B},
    # Proxy: inline sk. A second user of project A.
    "AK-PROJECT-A-INLINE": {"sk": "sk-project-a-inline-5b6c7d8e9f0a1b2c3d4e5f60718", "project_id": PROJECT_A},
    # Proxy: not configured. The upstream knows it, so the proxy must pass
    # its requests through untouched (it cannot re-sign them).
    "AK-UPSTREAM-ONLY": {"sk": "sk-upstream-only-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "project_id": PROJECT_A},
}

# The proxy's counter of signed requests and its label (check.py reads it,
# reference_proxy.py exports it); one place to change them if imgcache
# renames them.
SIGNED_METRIC = "imgcache_signed_requests_total"
SIGNED_METRIC_LABEL = "result"

IMAGE_PUBLIC = "1c0d7a3e-5b6f-4a8e-9d2c-0f1e2d3c4b5a"
IMAGE_PRIVATE_A = "2a7f4c1e-8d3b-4e6a-b5c9-1f2e3d4c5b6a"
IMAGE_PRIVATE_B = "3b8e5d2f-9c4a-4f7b-a6d0-2e3f4a5b6c7d"

# Needs percent-encoding in a query string: spaces, a non-ASCII letter, and
# '+', '(', '~' whose treatment differs between encoders (the SDK sends
# '+' as %2B and leaves '~' alone).
PUBLIC_IMAGE_NAME = "Ubuntu 22.04 server 64bit Ω (GPU+CUDA) ~gold"


def _image(image_id, name, owner, visibility, created_at, **extra):
    # The fields and string-typed "__" extensions IMS returns for
    # GET /v2/images/{id} (shared/spec/querying-image-details.rst).
    body = {
        "schema": "/v2/schemas/image",
        "min_disk": 40,
        "created_at": created_at,
        "__image_source_type": "uds",
        "container_format": "bare",
        "file": f"/v2/images/{image_id}/file",
        "updated_at": created_at,
        "protected": visibility == "public",
        "checksum": "d41d8cd98f00b204e9800998ecf8427e",
        "id": image_id,
        "__isregistered": "true",
        "min_ram": 1024,
        "__lazyloading": "true",
        "owner": owner,
        "__os_type": "Linux",
        "__imagetype": "gold" if visibility == "public" else "private",
        "visibility": visibility,
        "virtual_env_type": "FusionCompute",
        "tags": [],
        "__platform": "Ubuntu",
        "size": 0,
        "__os_bit": "64",
        "__os_version": "Ubuntu 22.04 server 64bit",
        "name": name,
        "self": f"/v2/images/{image_id}",
        "disk_format": "zvhd2",
        "virtual_size": None,
        "status": "active",
    }
    body.update(extra)
    return body


_SEED_IMAGES = [
    _image(IMAGE_PUBLIC, PUBLIC_IMAGE_NAME, PROJECT_IMS, "public", "2026-01-05T08:00:00Z"),
    _image(IMAGE_PRIVATE_A, "project-a build agent", PROJECT_A, "private", "2026-02-10T09:30:00Z"),
    _image(IMAGE_PRIVATE_B, "project-b database", PROJECT_B, "private", "2026-03-15T11:45:00Z"),
]


# Names the benchmark's image ids (uuid5), so upstream.py and bench.py agree
# on them without passing a list around.
_BENCH_NAMESPACE = uuid.UUID("6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b")


def bench_image_ids(n):
    return [str(uuid.uuid5(_BENCH_NAMESPACE, f"bench-{i}")) for i in range(n)]


def bench_images(n):
    return [_image(image_id, f"project-a bench {i}", PROJECT_A, "private", "2026-04-01T00:00:00Z")
            for i, image_id in enumerate(bench_image_ids(n))]


def seed_images(bench=0):
    """A fresh, independent copy of the images, keyed by id; with `bench`
    generated images of project A added (0: the seed alone)."""
    return {img["id"]: copy.deepcopy(img) for img in _SEED_IMAGES + bench_images(bench)}


def main(argv):
    if argv[:1] == ["credentials-json"]:
        print(json.dumps(CREDENTIALS, indent=2))
    elif len(argv) == 2 and argv[0] == "sk":
        print(CREDENTIALS[argv[1]]["sk"])
    else:
        sys.exit("usage: fixtures.py credentials-json | sk AK")


if __name__ == "__main__":
    main(sys.argv[1:])
