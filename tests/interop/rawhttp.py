"""HTTP/1.1 over a plain socket, byte for byte as written.

requests/urllib3 (and http.client's `request`) may merge repeated headers,
reorder them or refuse names with `_`; the identity probes need exactly the
header lines they choose, in their order, repeated and empty ones included,
and need to choose how a connection is used (one request on a fresh
connection for the proxy's hit path, or a second request on a connection
the proxy has already handed to hyper)."""

import os
import socket
import ssl
import urllib.parse

# The CA that signed an https proxy's certificate (run.sh's TLS pass).
CA_FILE = os.environ.get("IMGCACHE_INTEROP_CA", "")


def tls_context():
    """A client TLS context trusting only CA_FILE (HTTP/1.1 by ALPN, as
    python-requests offers)."""
    context = ssl.create_default_context(cafile=CA_FILE)
    context.set_alpn_protocols(["http/1.1"])
    return context

# Statuses and methods whose responses have no body (RFC 9112 §6.3).
NO_BODY_STATUSES = {204, 304}


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(name, value)] as received
        self.body = body

    def header(self, name):
        """The first value of `name` (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def __repr__(self):
        return f"<{self.status} {len(self.body)} bytes>"


class ConnectionDropped(Exception):
    """The server closed the connection before a whole response."""


def host_port(base):
    url = urllib.parse.urlsplit(base)
    return url.hostname, url.port, url.path.rstrip("/")


def request_bytes(method, target, host, lines, body=None):
    """The request head (and body) as sent. `lines` is a list of (name,
    value) written as `name: value` in order; Host comes first; a body gets
    a Content-Length unless `lines` names one."""
    head = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    head += [f"{name}: {value}" if value else f"{name}:" for name, value in lines]
    if body is not None and not any(name.lower() == "content-length" for name, _ in lines):
        head.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    return data + (body or b"")


class RawConnection:
    """One client connection; `request` sends one request and reads its
    whole response, so the connection can carry the next one."""

    def __init__(self, base, timeout=30):
        self.host, self.port, self.prefix = host_port(base)
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if base.startswith("https://"):
            self.sock = tls_context().wrap_socket(self.sock, server_hostname=self.host)
        self.reader = self.sock.makefile("rb")

    def close(self):
        try:
            self.reader.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, path, lines=(), body=None):
        self.sock.sendall(request_bytes(method, self.prefix + path, f"{self.host}:{self.port}", list(lines), body))
        return self.read_response(method)

    def read_response(self, method):
        while True:
            status, headers = self._read_head()
            if status >= 200 or status == 101:
                break  # 1xx interim responses are skipped
        if method == "HEAD" or status in NO_BODY_STATUSES or 100 <= status < 200:
            return RawResponse(status, headers, b"")
        lowered = {name.lower(): value for name, value in headers}
        if "chunked" in lowered.get("transfer-encoding", "").lower():
            return RawResponse(status, headers, self._read_chunked())
        if "content-length" in lowered:
            return RawResponse(status, headers, self._read_exact(int(lowered["content-length"])))
        return RawResponse(status, headers, self.reader.read())  # until the server closes

    def _read_head(self):
        line = self.reader.readline(65536)
        if not line:
            raise ConnectionDropped("connection closed before a response")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ConnectionDropped(f"not an HTTP status line: {line!r}")
        status = int(parts[1])
        headers = []
        while True:
            line = self.reader.readline(65536)
            if not line:
                raise ConnectionDropped("connection closed inside a response head")
            if line in (b"\r\n", b"\n"):
                return status, headers
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))

    def _read_exact(self, n):
        data = self.reader.read(n)
        if len(data) != n:
            raise ConnectionDropped(f"body cut short: {len(data)} of {n} bytes")
        return data

    def _read_chunked(self):
        body = bytearray()
        while True:
            size_line = self.reader.readline(65536)
            if not size_line:
                raise ConnectionDropped("connection closed inside a chunked body")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while self.reader.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += self._read_exact(size)
            self.reader.readline(65536)  # the CRLF after each chunk


def one_request(base, method, path, lines=(), body=None):
    """One request on a fresh connection, closed after the response. No
    `Connection: close` is sent: the proxy's hit path would hand such a
    request to hyper, and this is how the hit path gets its requests."""
    with RawConnection(base) as conn:
        return conn.request(method, path, lines, body)
