"""Credentials out of messages: :func:`mask_url` and :func:`mask_config`.

Every URL or client configuration a connector prints or logs goes through these first,
so a password given in ``--redis redis://:secret@host`` or a Kafka ``sasl.password``
never reaches a terminal or a log file. This module imports nothing optional: the
command line uses it in the base install.

What counts as a secret:

* the password of a URL's userinfo (``scheme://user:password@host``), for any scheme
  and any host list (``redis+sentinel://:pw@s1:26379,s2:26379/cars``);
* the value of a query parameter or configuration key whose name ends in
  ``password``, ``passwd``, ``secret`` or ``token`` (``?password=``, ``sasl.password``,
  ``ssl.key.password``, ``sasl.oauthbearer.client.secret``), and the private-key and
  OAuth settings ``ssl.key.pem``, ``ssl_key``, ``sasl.oauthbearer.config``.

User names, hosts, ports, paths and other parameters stay visible: they are what a
reader needs to tell which server a message is about. Where a URL is malformed the mask
errs on the side of hiding more (e.g. a password holding an unescaped ``/``).

Semantics: RFC 3986 section 3.2.1 (userinfo: "user:password" is deprecated precisely
because it ends up in logs); librdkafka CONFIGURATION.md for the Kafka key names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "mask_url", "mask_config", "is_secret_key"]

MASK = "***"
"""What a secret is replaced by."""

# scheme://user:password@ ; the password runs greedily to the last '@' before a space,
# '?' or '#', so a password holding '@' or '/' is hidden whole.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:@/?#]*:)(?P<pw>[^\s?#]*)@")
_PARAM = re.compile(r"(?P<head>[?&;](?P<key>[^=&;#\s]+)=)(?P<value>[^&;#\s]*)")
_SECRET_SUFFIXES = ("password", "passwd", "secret", "token")
_SECRET_KEYS = frozenset({"ssl.key.pem", "ssl_key", "sasl.oauthbearer.config"})


def is_secret_key(key: str) -> bool:
    """True if a setting or query parameter named ``key`` holds a secret.

    >>> [is_secret_key(k) for k in ("sasl.password", "SSL.KEY.PASSWORD", "sasl.username", "ssl.key.pem")]
    [True, True, False, True]
    """
    k = key.strip().lower()
    return k.endswith(_SECRET_SUFFIXES) or k in _SECRET_KEYS


def _param(m: re.Match) -> str:
    return m["head"] + MASK if m["value"] and is_secret_key(m["key"]) else m[0]


def _userinfo(m: re.Match) -> str:
    return m["head"] + MASK + "@" if m["pw"] else m[0]


def mask_url(url: str) -> str:
    """Return ``url`` with its password and secret query parameters replaced by ``***``.

    Works on any text holding URLs: Redis (``redis://``, ``rediss://``,
    ``redis+sentinel://h:p,h:p/...``, ``redis+cluster://``), Kafka bootstrap strings
    (``host:port,...`` and ``SASL_SSL://host:port``), HTTP. Text without credentials is
    returned unchanged.

    Args:
        url: a URL, a list of URLs, or a message containing them.

    Returns:
        The same text, secrets masked.

    >>> mask_url("redis://:s3cret@127.0.0.1:6379/0")
    'redis://:***@127.0.0.1:6379/0'
    >>> mask_url("rediss://default:p@ss/word@cache.example:6380/1?ssl_cert_reqs=none")
    'rediss://default:***@cache.example:6380/1?ssl_cert_reqs=none'
    >>> mask_url("redis+sentinel://:pw@s1:26379,s2:26379/cars/1")
    'redis+sentinel://:***@s1:26379,s2:26379/cars/1'
    >>> mask_url("redis://h:6379/0?password=pw&socket_timeout=5")
    'redis://h:6379/0?password=***&socket_timeout=5'
    >>> mask_url("SASL_SSL://b1:9093,b2:9093?sasl.username=app&sasl.password=pw")
    'SASL_SSL://b1:9093,b2:9093?sasl.username=app&sasl.password=***'
    >>> mask_url("b1:9092,b2:9092"), mask_url("http://user@host/x")
    ('b1:9092,b2:9092', 'http://user@host/x')

    Semantics: see the module doc; RFC 3986 3.2.1.
    """
    if "@" in url:
        url = _USERINFO.sub(_userinfo, url)
    if "=" in url:
        url = _PARAM.sub(_param, url)
    return url


def mask_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a client configuration fit for a log line.

    Values of secret keys (see :func:`is_secret_key`) become ``***``; other string
    values go through :func:`mask_url`; callables (librdkafka callbacks, loggers) are
    shown by name, nested mappings are masked too.

    >>> mask_config({"bootstrap.servers": "b:9093", "sasl.username": "app", "sasl.password": "pw",
    ...              "ssl.key.password": "kp", "linger.ms": 5})
    {'bootstrap.servers': 'b:9093', 'sasl.username': 'app', 'sasl.password': '***', 'ssl.key.password': '***', \
'linger.ms': 5}
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(key, str) and is_secret_key(key) and value not in (None, ""):
            out[key] = MASK
        elif isinstance(value, str):
            out[key] = mask_url(value)
        elif isinstance(value, Mapping):
            out[key] = mask_config(value)
        elif callable(value):
            out[key] = f"<{getattr(value, '__qualname__', type(value).__name__)}>"
        else:
            out[key] = value
    return out
