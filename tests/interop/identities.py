"""Who the interop callers are, and how a keystone-less Glance learns it.

Glance trusts the headers that keystonemiddleware would set
(`X-Identity-Status: Confirmed`, `X-User-Id`, `X-Project-Id`, `X-Roles`):
its `context` filter turns them into the request context. Raw-HTTP checks
send those headers themselves. The glance CLI and openstacksdk can only
send a token, so Glance's paste pipeline starts with `TokenIdentity`, a
stand-in for keystonemiddleware that maps a few fixed tokens to those
headers. It is part of Glance's side of the wire, so a proxy in front sees
exactly what it would see before a real keystone-protected Glance.
"""

# name -> (token, user id, project id, roles)
CALLERS = {
    "admin": ("tok-admin", "admin", "admin", "admin,member,reader"),
    "a": ("tok-project-a", "user-a", "project-a", "member,reader"),
    "b": ("tok-project-b", "user-b", "project-b", "member,reader"),
}


def trusted_headers(name):
    """The identity headers keystonemiddleware would pass for caller `name`."""
    _, user, project, roles = CALLERS[name]
    return {
        "X-Identity-Status": "Confirmed",
        "X-User-Id": user,
        "X-Project-Id": project,
        "X-Roles": roles,
    }


def token(name):
    """The token the CLI and the SDK send for caller `name`."""
    return CALLERS[name][0]


class TokenIdentity:
    """WSGI filter: a known user token becomes the caller's trusted headers.

    The token is read as keystonemiddleware reads it (`_request.py`,
    `user_token`): `X-Auth-Token`, else `X-Storage-Token`, from the WSGI
    environ, so `X_Auth_Token` is the same header here as behind the real
    middleware under uWSGI. An unknown or empty token gets
    `X-Identity-Status: Invalid` (Glance then answers 401, as behind
    keystonemiddleware with delay_auth_decision). Without a token the
    request is left alone, so raw trusted headers still work.
    """

    def __init__(self, app):
        self.app = app
        self.by_token = {t: name for name, (t, *_) in CALLERS.items()}

    def __call__(self, environ, start_response):
        tok = environ.get("HTTP_X_AUTH_TOKEN", environ.get("HTTP_X_STORAGE_TOKEN"))
        if tok is not None:
            name = self.by_token.get(tok)
            headers = trusted_headers(name) if name else {"X-Identity-Status": "Invalid"}
            for key, value in headers.items():
                environ["HTTP_" + key.upper().replace("-", "_")] = value
        return self.app(environ, start_response)


def filter_factory(global_conf, **local_conf):
    """paste.deploy entry point for `TokenIdentity`."""
    return TokenIdentity
