"""Twilio's ``X-Twilio-Signature``: HMAC-SHA1 over the public URL and the parameters.

Twilio signs every webhook with the account's auth token. The signed string
is the full URL Twilio requested (scheme, host, path and query string) and,
for a form-encoded POST, every parameter sorted by name with its value
appended (``"To+18005551212"``), with no separators. The header is the
base64 HMAC-SHA1 of that string.

A JSON body (Twilio's newer products post ``application/json``) is not
part of the signed string; instead Twilio appends ``bodySHA256=<hex SHA-256
of the body>`` to the URL it signs. We cannot see that query string (the
adapter knows the configured URL, not the request line), but we need not:
appending the hash of the body we received rebuilds the URL Twilio signed
if and only if the body is the one it sent.

Proxies and load balancers add or drop the default port, so, as Twilio's
own helper libraries do, the URL is tried as configured, without its port
and with the scheme's default port. All comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from ..._errors import SignatureError

__all__ = ["SIGNATURE_HEADER", "body_sha256_url", "compute_signature", "url_variants",
           "verify_signature"]

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute_signature(auth_token: bytes, url: str, params: Iterable[tuple[str, str]] = ()
                      ) -> str:
    """The ``X-Twilio-Signature`` value for ``url`` and form ``params`` (name, value pairs).

    Repeated names are signed in order of their values, as Twilio does.
    """
    parts = [url]
    for name, value in sorted(params):
        parts.append(name)
        parts.append(value)
    # surrogateescape: bytes of a body that is not UTF-8 are signed as they came.
    digest = hmac.digest(auth_token, "".join(parts).encode("utf-8", "surrogateescape"), "sha1")
    return base64.b64encode(digest).decode("ascii")


def body_sha256_url(url: str, body: bytes) -> str:
    """``url`` with the ``bodySHA256`` parameter Twilio adds for a JSON body."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}bodySHA256={hashlib.sha256(body).hexdigest()}"


@lru_cache(maxsize=256)
def url_variants(url: str) -> tuple[str, ...]:
    """``url`` as configured, without its port, and with the scheme's default port."""
    variants = [url]
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    host = parts.hostname or ""
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: only the URL as given can match
        return tuple(variants)
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    elif default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return tuple(variants)


def verify_signature(auth_token: bytes, urls: Iterable[str], params: Iterable[tuple[str, str]],
                     signature: str | None) -> None:
    """Raise `SignatureError` unless ``signature`` signs one of ``urls`` with ``params``."""
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER}")
    given = signature.strip().encode("ascii", "replace")
    pairs = list(params)
    for url in urls:
        expected = compute_signature(auth_token, url, pairs).encode("ascii")
        if hmac.compare_digest(expected, given):
            return
    raise SignatureError(f"{SIGNATURE_HEADER} does not match the URL and parameters")
