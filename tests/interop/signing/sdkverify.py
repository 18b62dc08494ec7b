"""Server-side check of an SDK-HMAC-SHA256 signature, done by the SDK itself.

Huawei publishes no verifier, only the client's Signer
(huaweicloudsdkcore/signer/signer.py). A server can still check a request
with it: rebuild the SdkRequest the client had signed from what arrived on
the wire, hand it to the Signer's own canonicalisation and HMAC with the
secret key of the Access key named in Authorization, and compare. All the
rules that matter (URI and query encoding, which headers, payload hash,
string to sign) are therefore the SDK's; this module only translates the
wire back into the Signer's input and decides which inputs to trust:

* The canonical headers are the ones the client listed in SignedHeaders, in
  its order, as API Gateway does; not the Signer's "every header without _".
  A request that lists `host` or `x-sdk-date` as unsigned is malformed.
* Only signed headers are given to the Signer, so an unsigned
  X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD cannot switch off the body hash.

The Signer's methods used here are underscored but stable across SDK
releases; make_vectors.py cross-checks them against the SDK's own signing.
"""

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, List, NamedTuple, Optional, Tuple
from urllib.parse import unquote

# Only these two: importing huaweicloudsdkcore.auth (BasicCredentials) makes the
# SDK create ~/.huaweicloud/application_id, which a server has no use for.
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

ALGORITHM = Signer._ALGORITHM  # "SDK-HMAC-SHA256"
DATE_FORMAT = Signer._BASIC_DATE_FORMAT  # "%Y%m%dT%H%M%SZ"
# API Gateway's window for X-Sdk-Date, either way.
DEFAULT_MAX_SKEW = timedelta(minutes=15)

# Results, named like the proxy's imgcache_signed_requests_total{result=…}.
VERIFIED = "verified"
MALFORMED = "malformed"
UNKNOWN_KEY = "unknown_key"
BAD_SIGNATURE = "bad_signature"
CLOCK_SKEW = "clock_skew"


@dataclass
class Verdict:
    result: str  # one of the constants above
    detail: str = ""
    ak: Optional[str] = None
    host: Optional[str] = None
    x_sdk_date: Optional[str] = None
    signed_headers: Optional[List[str]] = None
    canonical_request: Optional[str] = None
    string_to_sign: Optional[str] = None
    signature: Optional[str] = None  # the one we computed

    @property
    def ok(self) -> bool:
        return self.result == VERIFIED


class Malformed(ValueError):
    pass


class _Key(NamedTuple):
    # All the Signer reads from its credentials object.
    ak: str
    sk: str


def signer_for(ak: str, sk: str) -> Signer:
    """The SDK's SDK-HMAC-SHA256 Signer for one key pair."""
    return Signer(_Key(ak, sk))


def wire_to_text(value: str) -> str:
    """Undo what the SDK does to a header value before sending it.

    The Signer signs the text but stores `text.encode("utf-8").decode("latin-1")`
    for requests to send, so the wire carries UTF-8 bytes; http.server (and
    requests) hand those back as latin-1 text. Bytes that are no UTF-8 stay as
    read: the signature will not match, as it would not at a real gateway."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def parse_authorization(value: str) -> Tuple[str, List[str], str]:
    """`SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex` -> parts."""
    scheme, _, params = value.strip().partition(" ")
    if scheme != ALGORITHM:
        raise Malformed(f"Authorization scheme {scheme!r} is not {ALGORITHM}")
    fields = {}
    for part in params.split(","):
        key, eq, val = part.strip().partition("=")
        if not eq:
            raise Malformed(f"Authorization parameter {part.strip()!r} has no '='")
        fields[key.strip()] = val.strip()
    missing = [k for k in ("Access", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise Malformed(f"Authorization lacks {', '.join(missing)}")
    signed = fields["SignedHeaders"].split(";")
    return fields["Access"], signed, fields["Signature"]


def parse_query(query: str) -> List[Tuple[str, str]]:
    """The query as the (key, value) pairs the Signer canonicalises.

    The SDK percent-encodes every byte but unreserved ones (space is %20,
    '+' is %2B), so '+' is decoded as itself, not as a space."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def verify(method: str, target: str, headers: Iterable[Tuple[str, str]], body: bytes,
           lookup_sk: Callable[[str], Optional[str]], now: Optional[datetime] = None,
           max_skew: Optional[timedelta] = DEFAULT_MAX_SKEW) -> Verdict:
    """Check one request as received.

    target: the request target as on the request line (path[?query]).
    headers: (name, value) as received (latin-1 text, see wire_to_text).
    lookup_sk: Access key -> secret key, or None when unknown.
    max_skew: None skips the date window (golden vectors have fixed dates)."""
    received = {}
    for name, value in headers:
        key = name.lower()
        value = wire_to_text(value)
        # Repeated headers reach a WSGI app joined by ','; do the same.
        received[key] = f"{received[key]},{value}" if key in received else value
    verdict = Verdict(result=MALFORMED, host=received.get("host"), x_sdk_date=received.get("x-sdk-date"))

    try:
        if "authorization" not in received:
            raise Malformed("no Authorization header")
        ak, signed_headers, signature = parse_authorization(received["authorization"])
        verdict.ak, verdict.signed_headers = ak, signed_headers
        sk = lookup_sk(ak)
        if sk is None:
            verdict.result, verdict.detail = UNKNOWN_KEY, f"unknown Access key {ak!r}"
            return verdict
        for required in ("host", "x-sdk-date"):
            if required not in signed_headers:
                raise Malformed(f"{required} is not among SignedHeaders")
        absent = [h for h in signed_headers if h not in received]
        if absent:
            raise Malformed(f"signed header(s) {', '.join(absent)} not in the request")

        path, _, query = target.partition("?")
        request = SdkRequest(
            method=method,
            schema="http",
            host=received["host"],
            resource_path=path,
            query_params=parse_query(query),
            header_params={h: received[h] for h in signed_headers},
            body=body or None,
        )
        signer = signer_for(ak, sk)
        try:
            signed_at = Signer._process_header_time(request)
        except ValueError as e:
            raise Malformed(f"X-Sdk-Date {received['x-sdk-date']!r}: {e}")
        canonical = signer._process_canonical_request(request, signed_headers)
        string_to_sign = signer._process_string_to_sign(canonical, signed_at)
        expected = signer._sign_string_to_sign(string_to_sign, sk)
    except Malformed as e:
        verdict.detail = str(e)
        return verdict

    verdict.canonical_request, verdict.string_to_sign, verdict.signature = canonical, string_to_sign, expected
    if not hmac.compare_digest(expected, signature.lower()):
        verdict.result, verdict.detail = BAD_SIGNATURE, "signature does not match"
        return verdict
    if max_skew is not None:
        now = now or datetime.now(timezone.utc).replace(tzinfo=None)
        off = signed_at - now
        if abs(off) > max_skew:
            verdict.result = CLOCK_SKEW
            verdict.detail = f"X-Sdk-Date {received['x-sdk-date']} is {off.total_seconds():+.0f}s off"
            return verdict
    verdict.result = VERIFIED
    return verdict
