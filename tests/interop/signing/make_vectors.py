#!/usr/bin/env python3
"""Golden AK/SK signing vectors, made by Huawei's own Python SDK.

Writes tests/golden/signing/vectors.json: requests signed by
huaweicloudsdkcore's Signer through the SDK's real request pipeline
(Client.build_future_request: path parameter quoting, query tuples,
default headers, Content-Type, X-Project-Id, body serialisation), with a
fixed X-Sdk-Date and a fixed User-Agent so the file is deterministic, and
fake keys. Each vector holds the request as `requests` would put it on the
wire (target, every header in order, body) plus what the Signer computed
on the way (canonical request, string to sign, signature). A Rust verifier
must accept each one unchanged (with its clock at the vector's X-Sdk-Date)
and reject it with any signed byte changed.

Regenerate (after changing requirements.txt's SDK pins, or the cases here):

    tests/interop/signing/run.sh has made the venv; then from the repo root:
    target/interop/signing-venv/bin/python tests/interop/signing/make_vectors.py
    git diff tests/golden/signing/vectors.json   # a change = the SDK's signing changed

--check compares instead of writing (exit 1 on a difference). Every vector
is also re-verified from its wire form by sdkverify.py (the fake IMS's
verifier), so generation and verification cannot drift apart silently.

Header values in the file are text: the bytes on the wire are their UTF-8
encoding (the SDK sends non-ASCII header values as UTF-8).
"""

import argparse
import base64
import contextlib
import importlib.metadata
import json
import os
import sys
import tempfile
from datetime import datetime

# Importing the SDK's client reads, or creates, $HOME/.huaweicloud/application_id
# (an id it puts in the User-Agent). The vectors use a fixed User-Agent, so
# give the SDK a throw-away home instead of touching the developer's.
_SDK_HOME = tempfile.TemporaryDirectory(prefix="make-vectors-home.")
os.environ["HOME"] = _SDK_HOME.name

import requests  # noqa: E402
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402
from huaweicloudsdkcore.signer.signer import Signer  # noqa: E402
from huaweicloudsdkims.v2 import ImsClient  # noqa: E402

import sdkverify  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
OUT = os.path.join(REPO, "tests", "golden", "signing", "vectors.json")

AK = "VECTORAKEXAMPLE0000000"
SK = "vector-sk-not-a-secret-0123456789abcdefghij"
PROJECT = "0123456789abcdef0123456789abcdef"
X_SDK_DATE = "20261201T083000Z"
# What the SDK sends after "huaweicloud-usdk-python/3.0; ", with a fixed app id
# (the real one is a UUID the SDK stores in ~/.huaweicloud/application_id).
USER_AGENT = ("os/Linux##1_SMP_PREEMPT_DYNAMIC@0#x86_64 python/3.11.7 impl/CPython; "
              "app/00000000-0000-4000-8000-000000000000")
IMAGE = "bc6bed6e-ba3a-4447-afcc-449174a3eb52"
ENDPOINT = "https://ims.eu-de.example.test"


# name, description, endpoint, method, resource_path, path_params, query_params, header_params, body
CASES = [
    ("get-image", "GET /v2/images/{id}, the call imgcache caches",
     ENDPOINT, "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [], {}, None),
    ("list-trailing-slash", "a path ending in '/': the canonical URI keeps one '/' and adds none",
     ENDPOINT, "GET", "/v2/images/", {}, [], {}, None),
    ("path-percent-encoding", "path parameter with space, non-ASCII, '~', '%': the client quotes it "
     "(safe=''), the Signer unquotes and requotes each segment (safe='~')",
     ENDPOINT, "GET", "/v2/images/{image_id}", {"image_id": "img 1~ü%41"}, [], {}, None),
    ("path-encoded-slash", "a path parameter containing '/': %2F on the wire, but the Signer unquotes "
     "the whole path before splitting, so it signs a two-segment path",
     ENDPOINT, "GET", "/v2/images/{image_id}", {"image_id": "a/b"}, [], {}, None),
    ("query-repeated-keys", "repeated keys: sorted by key, then by value",
     ENDPOINT, "GET", "/v2/images", {}, [("tag", "zeta"), ("tag", "alpha"), ("limit", 2)], {}, None),
    ("query-empty-values", "empty values are signed and sent as 'key='",
     ENDPOINT, "GET", "/v2/images", {}, [("name", ""), ("marker", ""), ("limit", 1)], {}, None),
    ("query-encoding", "keys and values needing encoding: space is %20, '+' is %2B, '~' stays, "
     "UTF-8 bytes, '&', '=' and '/' encoded",
     ENDPOINT, "GET", "/v2/images", {},
     [("name", "Ubuntu 22.04 Ω (GPU+CUDA) ~gold"), ("sort key", "a&b=c/d"), ("ключ", "значение")], {}, None),
    ("query-unsorted-typed", "unsorted parameters of several types (the wire order is the sorted "
     "canonical one; a bool is sent as 'true')",
     ENDPOINT, "GET", "/v2/images", {},
     [("visibility", "public"), ("limit", 10), ("protected", True), ("__imagetype", "gold"), ("Marker", "x")],
     {}, None),
    ("query-sort-decoded", "the Signer sorts the decoded (key, value) pairs by code point, then encodes: "
     "'a_b' before 'a{b' and 'zulu' before 'élan', the reverse of sorting the encoded form",
     ENDPOINT, "GET", "/v2/images", {},
     [("tag", "zulu"), ("tag", "élan"), ("a{b", "2"), ("a_b", "1")], {}, None),
    ("header-whitespace", "header values with surrounding whitespace: stripped for signing and "
     "sent stripped; inner runs of spaces are kept (no folding)",
     ENDPOINT, "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [],
     {"X-Client-Tag": "  padded   value \t"}, None),
    ("header-non-ascii", "a non-ASCII header value: signed as text, sent as its UTF-8 bytes",
     ENDPOINT, "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [], {"X-Client-Tag": "Größe Ω"}, None),
    ("header-underscore", "a header with '_' in its name is sent but never signed",
     ENDPOINT, "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [],
     {"X_Auth_Token": "not-signed", "X-Client-Tag": "signed"}, None),
    ("post-json-body", "a JSON body: application/json, so the payload hash is SHA-256 of the body",
     ENDPOINT, "POST", "/v2/images", {}, [], {},
     {"name": "new image", "container_format": "bare", "disk_format": "qcow2", "min_ram": 1024}),
    ("post-empty-body", "POST without a body: the empty-string hash",
     ENDPOINT, "POST", "/v2/images/{image_id}/actions/deactivate", {"image_id": IMAGE}, [], {}, None),
    ("patch-unsigned-payload", "PATCH with Glance's JSON-patch type: not application/json, so the SDK "
     "adds X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD, signs that header, and leaves the body unsigned",
     ENDPOINT, "PATCH", "/v2/images/{image_id}", {"image_id": IMAGE}, [],
     {"Content-Type": "application/openstack-images-v2.1-json-patch"},
     [{"op": "replace", "path": "/name", "value": "renamed ü"}]),
    ("host-with-port", "an http endpoint with a port: Host is signed as host:port",
     "http://127.0.0.1:9292", "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [], {}, None),
    ("host-default-port", "an https endpoint naming its default port: Host keeps ':443'",
     "https://ims.eu-de.example.test:443", "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [], {}, None),
    ("endpoint-base-path", "an endpoint with a base path: the SDK drops the path, it signs and sends "
     "the resource path alone",
     "https://cloud.example.test/image", "GET", "/v2/images/{image_id}", {"image_id": IMAGE}, [], {}, None),
]


@contextlib.contextmanager
def recording_signer():
    """Record what Signer computes on the way to the signature."""
    seen = {}
    originals = {name: getattr(Signer, name) for name in ("_process_canonical_request", "_process_string_to_sign")}

    def canonical(self, request, signed_headers):
        seen["canonical_request"] = originals["_process_canonical_request"](self, request, signed_headers)
        return seen["canonical_request"]

    def string_to_sign(self, canonical_request, t):
        seen["string_to_sign"] = originals["_process_string_to_sign"](self, canonical_request, t)
        return seen["string_to_sign"]

    Signer._process_canonical_request = canonical
    Signer._process_string_to_sign = string_to_sign
    try:
        yield seen
    finally:
        for name, fn in originals.items():
            setattr(Signer, name, fn)


def sdk_client(endpoint):
    config = HttpConfig.get_default_config()
    # A fixed User-Agent; also keeps the SDK from creating ~/.huaweicloud/.
    config.user_agent = USER_AGENT
    client = (ImsClient.new_builder()
              .with_http_config(config)
              .with_credentials(BasicCredentials(AK, SK, PROJECT))
              .with_endpoint(endpoint)
              .build())
    # preset_headers go into the request before signing; the Signer keeps an
    # X-Sdk-Date it finds instead of taking the clock.
    client.preset_headers["X-Sdk-Date"] = X_SDK_DATE
    return client


def make_vector(case, session):
    name, description, endpoint, method, resource_path, path_params, query, headers, body = case
    client = sdk_client(endpoint)
    try:
        with recording_signer() as seen:
            signed = client.build_future_request(
                method, resource_path, dict(path_params), list(query), dict(headers), body,
                None, None, None, {}, None).result()
    finally:
        client.close()
    # Exactly what requests (the SDK's transport) would send. urllib3 advertises
    # br/zstd in Accept-Encoding when those modules happen to be importable;
    # pin it so the file does not depend on the machine (it is not signed).
    prepared = session.prepare_request(requests.Request(
        signed.method, signed.url, headers=signed.header_params, data=signed.body))
    wire_headers = [(k, v) for k, v in prepared.headers.items()]
    wire_body = prepared.body or b""
    if isinstance(wire_body, str):
        wire_body = wire_body.encode("utf-8")
    authorization = prepared.headers["Authorization"]
    _, signed_headers, signature = sdkverify.parse_authorization(authorization)

    # The fake IMS's verifier must agree, from the wire form alone.
    verdict = sdkverify.verify(prepared.method, prepared.path_url, wire_headers, wire_body,
                               lambda ak: SK if ak == AK else None, max_skew=None)
    if not verdict.ok or verdict.canonical_request != seen["canonical_request"]:
        raise SystemExit(f"{name}: sdkverify disagrees with the SDK: {verdict.result} {verdict.detail}\n"
                         f"SDK canonical request:\n{seen['canonical_request']}\n"
                         f"sdkverify canonical request:\n{verdict.canonical_request}")

    return {
        "name": name,
        "description": description,
        "method": prepared.method,
        "target": prepared.path_url,
        "headers": [[k, sdkverify.wire_to_text(v)] for k, v in wire_headers],
        "body_b64": base64.b64encode(wire_body).decode("ascii"),
        "ak": AK,
        "sk": SK,
        "x_sdk_date": X_SDK_DATE,
        "signed_headers": signed_headers,
        "canonical_request": seen["canonical_request"],
        "string_to_sign": seen["string_to_sign"],
        "signature": signature,
        "authorization": authorization,
        "sdk_input": {
            "endpoint": endpoint,
            "resource_path": resource_path,
            "path_params": path_params,
            "query_params": [[k, v] for k, v in query],
            "header_params": headers,
            "body": body,
        },
        "generator": "huaweicloudsdkcore " + importlib.metadata.version("huaweicloudsdkcore"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args()

    # Sanity: the fixed date is one the Signer itself can parse.
    datetime.strptime(X_SDK_DATE, Signer._BASIC_DATE_FORMAT)
    session = requests.Session()
    session.headers["Accept-Encoding"] = "gzip, deflate"
    vectors = [make_vector(case, session) for case in CASES]
    text = json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"

    if args.check:
        with open(args.out, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{os.path.relpath(args.out, REPO)} differs from what the installed SDK signs; "
                      "rerun without --check and review the diff", file=sys.stderr)
                sys.exit(1)
        print(f"{os.path.relpath(args.out, REPO)}: {len(vectors)} vectors match the installed SDK")
        return
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(vectors)} vectors to {os.path.relpath(args.out, REPO)}")


if __name__ == "__main__":
    main()
