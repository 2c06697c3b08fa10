# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one secret masker, for facts (target side) and reports (controller side).

Standard library only. Anything that leaves a host (a log sample, a process command line, a
URL, a report line) passes through here. Values are replaced by :data:`MASK`; the names around
them (option names, header names, query parameter names, environment variable names) are kept
because they are what a person needs to understand the evidence.

Public API (stable):

``MASK``
    The replacement text.
``is_secret_name(name)``
    Whether a variable / option / header / parameter name says its value is a secret.
``mask_text(text)``
    Free text (log lines, messages): ``name=value`` / ``name: value`` / ``name => value`` /
    JSON pairs with secret names, ``--password X``, ``-e K=V``, credentials in URLs and DSNs
    (also with ``@`` inside the password), ``Authorization`` / ``Cookie`` / ``Set-Cookie``
    values, well-known token shapes (AWS access key ids, GitHub/GitLab/Slack/Stripe tokens,
    JWTs) and PEM private keys.
``mask_argv(argv)``
    A command line (list): the values of ``--secret-opt=V`` / ``--secret-opt V``, of every
    ``-e K=V`` / ``--env K=V`` (any app server kind) and of secret ``K=V`` arguments; then
    :func:`mask_text` on each argument.
``mask_url(url)``
    A URL: password of the userinfo, secret-looking query parameters.
"""

from __future__ import annotations

import re

MASK = "********"

# Words that make a name secret wherever they appear in it.
_SECRET_WORDS = (
    "passw", "secret", "token", "credential", "apikey", "api_key", "api-key", "accesskey", "access_key",
    "access-key", "privatekey", "private_key", "private-key", "signature", "cookie", "sessionid",
    "session_id", "session-id", "csrf", "xsrf", "jwt", "authorization", "passphrase",
)
# Words that make a name secret when they are a whole component (split at _ . - and spaces).
_SECRET_PARTS = frozenset((
    "pass", "pwd", "pw", "auth", "key", "sig", "sid", "session", "dsn", "otp", "apikey", "bearer", "salt",
))
# A last component that says the value is not the secret itself but where/what it is.
_NOT_SECRET_LAST = frozenset((
    "file", "path", "dir", "directory", "timeout", "ttl", "size", "length", "len", "type", "name", "format",
    "mode", "count", "enabled", "required", "header", "field", "env", "var", "cache",
))
_SPLIT = re.compile(r"[^a-z0-9]+")


def is_secret_name(name):
    """True when ``name`` (an option, variable, header or parameter name) holds a secret."""
    if not name:
        return False
    low = str(name).lower().strip("-_ \"'")
    parts = [p for p in _SPLIT.split(low) if p]
    if not parts:
        return False
    if len(parts) > 1 and parts[-1] in _NOT_SECRET_LAST:
        return False
    if any(w in low for w in _SECRET_WORDS):
        return True
    return any(p in _SECRET_PARTS for p in parts)


# --------------------------------------------------------------------------- patterns

# PEM private keys: everything between the markers
_PEM = re.compile(r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)

# scheme://user:password@host -- the password may contain '@' (the last '@' before the host
# ends it) but no '/', whitespace or quote
_URL_USERINFO = re.compile(r"((?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"'<>]*:)([^/\s\"'<>]+)(@[^@/\s\"'<>]*)")
# user:password@tcp(host:port)/db (Go MySQL DSN)
_GO_DSN = re.compile(r"((?<![\w.-])[\w.-]+:)([^\s@/\"']+)(@(?:tcp|tcp6|unix|udp)\()")

# (Proxy-)Authorization: <scheme> <credentials>  -- keep the scheme, mask the credentials
_AUTH_HEADER = re.compile(
    r"((?:\bProxy-)?\bAuthorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:((?:Bearer|Basic|Digest|Token|Negotiate|NTLM|AWS4-HMAC-SHA256|ApiKey|Key)\s+)"
    r"([^\"'\r\n]+?)(?=[\"'\r\n]|$)|([^\s\"',;]+))", re.I | re.M)
_BEARER = re.compile(r"(\bBearer\s+)([A-Za-z0-9._~+/=-]{8,})")

# Cookie: a=b; c=d  -- every value; Set-Cookie: a=b; Path=/  -- the first pair's value
_COOKIE = re.compile(r"(\b(?:Set-)?Cookie2?[\"']?\s*:\s*[\"']?)([^\"'\r\n]*)", re.I)
_COOKIE_PAIR = re.compile(r"(^|;\s*)([^=;\s]+)=([^;]*)")

# CLI options in free text: --password X (=X is the generic rule's)
_CLI_OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)([ \t]+)(?!-)(\"[^\"]*\"|'[^']*'|[^\s\"']+)")
# -e NAME=value / --env NAME=value / --env=NAME=value: every value
_ENV_OPT = re.compile(r"(?<![\w-])(-e|--env)([ \t]+|=)([A-Za-z_][\w.]*=)(\"[^\"]*\"|'[^']*'|\S+)")

# name <sep> value with a secret name; sep is = : => := (spaces allowed around). The value is
# matched separately (only after a secret name), so that a pair inside a non-secret quoted value
# (request: "GET /?token=x") is still found and hostile text stays linear.
_KV = re.compile(r"(?<![\w.\-\[\]])(?P<q>[\"']?)(?P<name>-{0,2}[A-Za-z_][\w.\-\[\]]*)(?P=q)[ \t]*(?:=>|:=|=|:)[ \t]*")
_VALUE = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;&\"')}\]<>]+")
# SQL: IDENTIFIED BY 'x' / PASSWORD 'x'
_SQL = re.compile(r"(\b(?:IDENTIFIED\s+BY|PASSWORD)\s+)('[^']*'|\"[^\"]*\")", re.I)

# well-known token shapes, masked wherever they appear
_TOKENS = re.compile(
    r"\b(?:"
    r"(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"            # AWS key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"             # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"                                            # GitLab
    r"|xox[abprse]-[A-Za-z0-9-]{10,}"                                       # Slack
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"                         # Stripe
    r"|sk-[A-Za-z0-9_-]{20,}"                                               # OpenAI-style
    r"|AIza[0-9A-Za-z_-]{35}"                                               # Google API keys
    r"|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"         # JWT
    r")")

# names whose values have their own rule above
_OWN_RULE = ("authorization", "proxy-authorization", "cookie", "set-cookie", "cookie2")


def _quoted(val):
    if len(val) >= 2 and val[0] == val[-1] and val[0] in "\"'":
        return val[0] + MASK + val[0]
    return MASK


def _mask_pairs(text):
    """Mask the values of ``name <sep> value`` pairs whose name is secret."""
    parts = []
    pos = 0
    for m in _KV.finditer(text):
        if m.start() < pos:
            continue  # inside a value masked already
        name = m.group("name")
        if name.lower() in _OWN_RULE or not is_secret_name(name):
            continue
        v = _VALUE.match(text, m.end())
        if v is None or v.group(0) == MASK:
            continue
        parts.append(text[pos:v.start()])
        parts.append(_quoted(v.group(0)))
        pos = v.end()
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)


def _cli_repl(m):
    if not is_secret_name(m.group(1)):
        return m.group(0)
    return m.group(1) + m.group(2) + _quoted(m.group(3))


def _auth_repl(m):
    if m.group(2) is not None:
        return m.group(1) + m.group(2) + MASK
    return m.group(1) + MASK


def _cookie_pair(m):
    return m.group(1) + m.group(2) + "=" + MASK


def _cookie_repl(m):
    head, value = m.group(1), m.group(2)
    first_only = head.lower().lstrip().startswith("set-")

    if "=" not in value:
        return head + (MASK if value.strip() else value)
    return head + _COOKIE_PAIR.sub(_cookie_pair, value, count=1 if first_only else 0)


def _pem_repl(m):
    return m.group(1) + MASK + m.group(3)


def _url_repl(m):
    return m.group(1) + MASK + m.group(3)


def mask_text(text):
    """Mask secret values in free text; everything else is returned unchanged."""
    if not text or not isinstance(text, str):
        return text
    if "PRIVATE KEY" in text:
        text = _PEM.sub(_pem_repl, text)
    if "://" in text:
        text = _URL_USERINFO.sub(_url_repl, text)
    if "@" in text and "(" in text:
        text = _GO_DSN.sub(_url_repl, text)
    low = text.lower()
    if "authorization" in low:
        text = _AUTH_HEADER.sub(_auth_repl, text)
    if "bearer" in low:
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    if "cookie" in low:
        text = _COOKIE.sub(_cookie_repl, text)
    if "-e" in text:
        text = _ENV_OPT.sub(lambda m: m.group(1) + m.group(2) + m.group(3) + _quoted(m.group(4)), text)
    if "-" in text:
        text = _CLI_OPT.sub(_cli_repl, text)
    if "=" in text or ":" in text:
        text = _mask_pairs(text)
    if "identified" in low or "password" in low:
        text = _SQL.sub(lambda m: m.group(1) + _quoted(m.group(2)), text)
    text = _TOKENS.sub(MASK, text)
    return text


# --------------------------------------------------------------------------- argv

_ENV_FLAGS = frozenset(("-e", "--env"))


def _mask_assignment(arg):
    """``K=V`` -> ``K=MASK`` (or MASK when there is no ``=``)."""
    key, sep, _val = arg.partition("=")
    return key + "=" + MASK if sep else MASK


def mask_argv(argv):
    """Return a copy of the command line ``argv`` with secret values masked.

    Works for any program (gunicorn, uvicorn, uWSGI, hypercorn, daphne, php-fpm, a shell
    wrapper): it needs no table of options, only their names.
    """
    if argv is None:
        return None
    out = []
    pending = None  # "env": next arg is K=V, "value": next arg is a secret value
    for arg in argv:
        if not isinstance(arg, str):
            out.append(arg)
            continue
        if pending == "env":
            out.append(_mask_assignment(arg))
            pending = None
            continue
        if pending == "value":
            out.append(MASK)
            pending = None
            continue
        if arg in _ENV_FLAGS:
            out.append(arg)
            pending = "env"
            continue
        if arg.startswith("-e") and len(arg) > 2 and arg[2] != "=" and "=" in arg:
            out.append("-e" + _mask_assignment(arg[2:]))  # -eKEY=VALUE
            continue
        if arg.startswith("-") and not arg.startswith("---"):
            name, eq, val = arg.partition("=")
            if eq and name in _ENV_FLAGS:
                out.append(name + "=" + _mask_assignment(val))
                continue
            if eq and is_secret_name(name):
                out.append(name + "=" + MASK)
                continue
            if not eq and arg.startswith("--") and is_secret_name(arg):
                out.append(arg)
                pending = "value"
                continue
        elif "=" in arg and " " not in arg.partition("=")[0]:
            name = arg.partition("=")[0]
            if is_secret_name(name):
                out.append(name + "=" + MASK)
                continue
        out.append(mask_text(arg))
    return out


# --------------------------------------------------------------------------- URLs

_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s]*)")


def mask_url(url):
    """Mask the userinfo password and secret-looking query parameters of ``url``."""
    if not url or not isinstance(url, str):
        return url
    url = _URL_USERINFO.sub(_url_repl, url)
    if "?" in url or ";" in url:
        url = _QUERY_PARAM.sub(
            lambda m: m.group(1) + m.group(2) + "=" + (MASK if is_secret_name(m.group(2)) and m.group(3) else m.group(3)),
            url)
    return _TOKENS.sub(MASK, url)
