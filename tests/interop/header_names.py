"""Which request headers give a caller identity or authority to Glance:
read out of the installed keystonemiddleware, oslo.context and Glance
sources (found through the interop venv's import system, never a fixed
site-packages path), so the check fails as soon as an upgrade adds one the
proxy's identity list lacks.

What counts as a request header read by a source:
  - every `HTTP_...` name in a string constant (the WSGI environ key of a
    request header; docstrings included: keystonemiddleware's module
    docstring is its list of the headers it passes on);
  - every string constant shaped like an OpenStack request header name
    (`X-...`, `OpenStack-...`: `X-Auth-Token`, `OpenStack-System-Scope`);
  - every constant key read (not written) from something called `headers`
    or `environ` (`req.headers.get('Some-Name')`, `environ['HTTP_...']`),
    names resolved through the module's and classes' string assignments;
  - `%s` templates of such names (`'X%s-Project-Id'`), expanded over the
    string constants the source assigns to `*_PREFIX` names ('' and
    '-Service' in keystonemiddleware's `_request.py`).
A template the extractor cannot expand (no prefixes, an f-string or
`{}`-format) fails the check rather than being skipped. As a cross-check,
the modules are imported and what they list at run time
(keystonemiddleware `_all_auth_headers()` and `_SYSTEM_SCOPE_HEADER`,
oslo.context `_ENVIRON_HEADERS`) must be in the extracted set.
"""

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import re

# (distribution, module): the sources read.
SOURCES = [
    ("keystonemiddleware", "keystonemiddleware.auth_token._request"),
    ("keystonemiddleware", "keystonemiddleware.auth_token"),  # its docstring lists what it passes on
    ("oslo.context", "oslo_context.context"),
    ("glance", "glance.api.middleware.context"),
]

# Names read by those sources that are provably neither identity nor
# authority, each with the reason. Everything else must be in the proxy's
# cache.identity_headers.
EXCLUDED = {
    # Glance's context middleware takes it as the request id (oslo.middleware's
    # request_id filter, not in Glance's read path here, as the global
    # request id): it goes into logs and back out in the response; it never
    # says who the caller is or what they may read. Its only effect on an
    # answer is a length limit (Glance refuses an id over
    # max_request_id_length with 431, whoever asks), not a view of an image.
    "x-openstack-request-id": "request id for logs and tracing; decides no identity or permission",
}
# Not excluded, on purpose: x-service-catalog. keystonemiddleware counts it
# among the auth headers it strips so that a caller cannot fake them
# (`_all_auth_headers`), and Glance parses it into the request context
# (it is how Glance reaches other services on the caller's behalf; a
# malformed one is a 500): it is authority, so it belongs in the key.

# Names every extraction must find; missing ones mean the extractor no
# longer understands the sources (so the check would prove nothing).
ANCHORS = {"x-auth-token", "x-project-id", "x-roles", "x-identity-status"}

HEADER_LIKE = re.compile(r"^(?:X|OpenStack|Openstack)(?:%s)?(?:-[A-Za-z0-9]+)+$")
ENVIRON_HEADER = re.compile(r"\bHTTP_[A-Z0-9_]+\b")
READERS = ("headers", "environ")
READ_METHODS = {"get", "pop", "setdefault", "__getitem__", "__contains__"}


class ExtractionError(Exception):
    """The sources have a shape the extractor cannot read."""


def normalise(name):
    """`HTTP_X_TENANT_ID` and `X-Tenant-Id` -> `x-tenant-id`."""
    if name.startswith("HTTP_"):
        name = name[len("HTTP_"):]
    return name.replace("_", "-").lower()


def _reader_name(node):
    """`req.headers` / `self.environ` / `environ` -> 'headers' / 'environ'."""
    if isinstance(node, ast.Attribute):
        return node.attr if node.attr in READERS else None
    if isinstance(node, ast.Name):
        return node.id if node.id in READERS else None
    return None


class SourceScan:
    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.tree = ast.parse(f.read(), path)
        self.names = set()  # normalised header names
        self.environ_keys = set()  # environ keys that are not request headers
        self.templates = set()
        self.strings = {}  # NAME -> string constant assigned to it
        self._collect_assignments()

    def _collect_assignments(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.strings[target.id] = node.value.value

    def _resolve(self, node):
        """A string constant, or a name / self.NAME / cls.NAME bound to one;
        `TEMPLATE % x` resolves to the template."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.strings.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.strings.get(node.attr)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self._resolve(node.left)
        return None

    def _add_literal(self, text):
        for match in ENVIRON_HEADER.findall(text):
            self.names.add(normalise(match))
        if HEADER_LIKE.match(text):
            if "%s" in text:
                self.templates.add(text)
            else:
                self.names.add(normalise(text))

    def _add_read(self, reader, key):
        if key is None:
            return
        if reader == "environ" and not key.startswith("HTTP_"):
            self.environ_keys.add(key)
            return
        if "%s" in key:
            self.templates.add(key)
        elif "{" in key:
            raise ExtractionError(f"{self.path}: header name built with a format string: {key!r}")
        else:
            self.names.add(normalise(key))

    def scan(self):
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                self._add_literal(node.value)
            elif isinstance(node, ast.JoinedStr):
                parts = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if parts.startswith(("X-", "X%", "HTTP_", "OpenStack", "Openstack")):
                    raise ExtractionError(f"{self.path}:{node.lineno}: header name built in an f-string")
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                reader = _reader_name(node.value)
                if reader:
                    self._add_read(reader, self._resolve(node.slice))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in READ_METHODS and node.args:
                reader = _reader_name(node.func.value)
                if reader:
                    self._add_read(reader, self._resolve(node.args[0]))
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
                reader = _reader_name(node.comparators[0])
                if reader:
                    self._add_read(reader, self._resolve(node.left))
        if self.templates:
            prefixes = {v for k, v in self.strings.items() if k.endswith("_PREFIX")}
            if not prefixes:
                raise ExtractionError(f"{self.path}: templates {sorted(self.templates)} but no *_PREFIX constants "
                                      "to expand them with")
            for template in self.templates:
                for prefix in prefixes:
                    self.names.add(normalise(template % prefix))
        return self


def runtime_names():
    """What the modules themselves list when imported (a cross-check)."""
    names = {}
    req = importlib.import_module("keystonemiddleware.auth_token._request")._AuthTokenRequest
    listed = list(req._all_auth_headers(req)) + [req._SYSTEM_SCOPE_HEADER]
    names["keystonemiddleware _all_auth_headers + _SYSTEM_SCOPE_HEADER"] = {normalise(n) for n in listed}
    ctx = importlib.import_module("oslo_context.context")
    env = {v for keys in ctx._ENVIRON_HEADERS.values() for v in keys if v.startswith("HTTP_")}
    names["oslo.context _ENVIRON_HEADERS"] = {normalise(v) for v in env}
    return names


def extract():
    """name -> sorted list of 'distribution version module' that read it,
    plus the environ keys seen that are not request headers."""
    found, environ_keys, report = {}, set(), []
    for dist, module in SOURCES:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin:
            raise ExtractionError(f"{module} ({dist}) is not installed in this interpreter")
        scan = SourceScan(spec.origin).scan()
        if not scan.names:
            raise ExtractionError(f"{spec.origin}: no header names found")
        where = f"{dist} {importlib.metadata.version(dist)} {module}"
        report.append(f"    {where}: {spec.origin}")
        for name in scan.names:
            found.setdefault(name, []).append(where)
        environ_keys |= scan.environ_keys
    missing_anchors = ANCHORS - set(found)
    if missing_anchors:
        raise ExtractionError(f"the extraction found none of {sorted(missing_anchors)}: it no longer reads the sources")
    for what, names in runtime_names().items():
        unseen = names - set(found)
        if unseen:
            raise ExtractionError(f"{what} lists {sorted(unseen)} at run time, which the source scan missed")
    return found, environ_keys, report


def running_identity_headers(admin):
    """`config.identity_headers` of the running proxy (admin GET /cache/stats)."""
    from clients import exchange  # noqa: late import keeps this module importable without the clients' deps

    resp = exchange(admin, "GET", "/cache/stats")
    if resp.status != 200:
        raise ExtractionError(f"admin GET /cache/stats: {resp.status} {resp.body[:200]!r}")
    config = json.loads(resp.body).get("config", {})
    if "identity_headers" not in config:
        raise ExtractionError(f"GET /cache/stats has no config.identity_headers: {sorted(config)}")
    return [n.lower() for n in config["identity_headers"]]


def check(admin):
    """(report lines, problems); admin None: only list the extracted names."""
    found, environ_keys, report = extract()
    excluded = {n: r for n, r in EXCLUDED.items() if n in found}
    needed = sorted(set(found) - set(excluded))
    report.append(f"    request headers read ({len(found)}; {len(needed)} must be identity headers):")
    width = max(len(n) for n in found)
    for name in sorted(found):
        mark = f"EXCLUDED: {excluded[name]}" if name in excluded else ", ".join(sorted(set(found[name])))
        report.append(f"      {name:<{width}}  {mark}")
    report.append(f"    environ keys read that are not request headers (no client can set them): "
                  f"{', '.join(sorted(environ_keys)) or '-'}")
    report.append("    for a Rust list: " + ", ".join(f'"{n}"' for n in needed))
    if admin is None:
        return report, []
    running = running_identity_headers(admin)
    report.append(f"    the proxy's identity_headers ({len(running)}): {', '.join(running)}")
    others = sorted(set(running) - set(found))
    if others:
        report.append(f"    in the proxy's list, read by none of these sources: {', '.join(others)}")
    missing = [n for n in needed if n not in running]
    problems = [f"{n} (read by {'; '.join(sorted(set(found[n])))}) is not in the proxy's identity headers"
                for n in missing]
    return report, problems
