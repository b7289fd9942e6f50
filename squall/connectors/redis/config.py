"""How to reach Redis: one server by URL, a Sentinel-monitored master, or a Cluster.

A :class:`RedisConfig` is a frozen, hashable, picklable spec; :func:`build_client`
turns it into a live redis-py client (``redis.Redis`` or ``redis.cluster.RedisCluster``)
in the process that uses it. Only this package imports redis-py.

Semantics: redis-py "Connecting to Redis" (``Redis.from_url``, ``Sentinel.master_for``,
``RedisCluster(startup_nodes=...)``) and its ``Retry``/``ExponentialBackoff``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..urls import mask_url
from .errors import RedisConfigError

__all__ = ["RedisConfig", "from_url", "build_client"]

Node = tuple[str, int]


def _nodes(value: Sequence[Any], setting: str) -> tuple[Node, ...]:
    out = []
    for item in value:
        if isinstance(item, str):
            host, sep, port = item.rpartition(":")
            if not sep or not port.isdigit():
                raise RedisConfigError(f"{setting}: {item!r} is not 'host:port' or (host, port)")
            out.append((host, int(port)))
        else:
            try:
                host, port = item
            except (TypeError, ValueError):
                raise RedisConfigError(f"{setting}: {item!r} is not 'host:port' or (host, port)") from None
            out.append((str(host), int(port)))
    return tuple(out)


@dataclass(frozen=True)
class RedisConfig:
    """Where Redis is and how patient the client is.

    Exactly one mode applies:

    * single server (default): ``url`` = ``redis://[user:password@]host:port/db``
      (``rediss://`` for TLS, ``unix:///path?db=N`` for a socket);
    * Sentinel: ``sentinel`` = the Sentinels' ``(host, port)`` pairs and
      ``service_name`` = the monitored master's name; ``url`` then only gives the db
      and credentials of the master;
    * Cluster: ``cluster=True``; ``startup_nodes`` (``(host, port)`` pairs) or, when
      empty, the host and port of ``url`` seed the slot map.

    Attributes:
        url: the server URL (single mode), or the db/credential source (Sentinel).
        sentinel: Sentinel nodes, as ``(host, port)`` pairs or ``"host:port"`` strings.
        service_name: the master's name as the Sentinels know it.
        cluster: connect to a Redis Cluster.
        startup_nodes: cluster seed nodes.
        socket_timeout_s: seconds to wait for a reply before a timeout error.
        socket_connect_timeout_s: seconds to wait for a TCP connect.
        retries: how many times redis-py retries a command after a connection or
            timeout error, on a fresh connection, before it raises (0: never). Each
            retry blocks the caller, so keep it small for bolts.
        retry_backoff_base_s: first wait between retries (doubles per retry).
        retry_backoff_cap_s: longest wait between retries.
        max_connections: pool size cap per process (None: unbounded).
        client_name: the name shown by ``CLIENT LIST`` for this client's connections.
        scan_count: elements asked for per ``SCAN``/``SSCAN`` round trip (Redis's
            ``COUNT`` hint) when a store reads a keyspace or a whole set page by page.

    Raises:
        RedisConfigError: modes mixed, a Sentinel list without ``service_name``, a
            negative timeout or retry count, a malformed node.

    >>> cfg = from_url("redis://127.0.0.1:6380/2", socket_timeout_s=1.0)
    >>> cfg.describe(), cfg.mode
    ('redis://127.0.0.1:6380/2', 'single')
    >>> RedisConfig(sentinel=["10.0.0.1:26379"], service_name="cars").describe()
    "Sentinel service 'cars' via 10.0.0.1:26379"
    """

    url: str = "redis://localhost:6379/0"
    sentinel: tuple[Node, ...] = ()
    service_name: str | None = None
    cluster: bool = False
    startup_nodes: tuple[Node, ...] = ()
    socket_timeout_s: float | None = 5.0
    socket_connect_timeout_s: float | None = 2.0
    retries: int = 1
    retry_backoff_base_s: float = 0.02
    retry_backoff_cap_s: float = 0.5
    max_connections: int | None = None
    client_name: str | None = "squall"
    scan_count: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentinel", _nodes(self.sentinel, "sentinel"))
        object.__setattr__(self, "startup_nodes", _nodes(self.startup_nodes, "startup_nodes"))
        if self.sentinel and self.cluster:
            raise RedisConfigError("sentinel and cluster=True are exclusive: Redis Cluster does its "
                                   "own failover; give either sentinel nodes or cluster=True")
        if self.sentinel and not self.service_name:
            raise RedisConfigError("sentinel nodes are given but service_name is not: pass the "
                                   "master's name as the Sentinels monitor it (sentinel monitor <name> ...)")
        if self.service_name and not self.sentinel:
            raise RedisConfigError(f"service_name={self.service_name!r} needs sentinel=[(host, port), ...]")
        if self.startup_nodes and not self.cluster:
            raise RedisConfigError("startup_nodes are only used with cluster=True")
        for name in ("socket_timeout_s", "socket_connect_timeout_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise RedisConfigError(f"{name} must be > 0 seconds or None (no timeout), got {v!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise RedisConfigError(f"retries must be an int >= 0, got {self.retries!r}")
        if self.retry_backoff_base_s < 0 or self.retry_backoff_cap_s < self.retry_backoff_base_s:
            raise RedisConfigError("need 0 <= retry_backoff_base_s <= retry_backoff_cap_s, got "
                                   f"{self.retry_backoff_base_s!r} and {self.retry_backoff_cap_s!r}")
        if isinstance(self.scan_count, bool) or not isinstance(self.scan_count, int) or self.scan_count < 1:
            raise RedisConfigError(f"scan_count must be an int >= 1, got {self.scan_count!r}")
        if urlsplit(self.url).scheme not in ("redis", "rediss", "unix"):
            raise RedisConfigError(f"url {self.url!r}: the scheme must be redis://, rediss:// or unix://")

    @property
    def mode(self) -> str:
        """``"single"``, ``"sentinel"`` or ``"cluster"``."""
        return "cluster" if self.cluster else "sentinel" if self.sentinel else "single"

    def replace(self, **changes: Any) -> RedisConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """The server(s) this config points at, without credentials, for messages."""
        if self.sentinel:
            return f"Sentinel service {self.service_name!r} via " + \
                ",".join(f"{h}:{p}" for h, p in self.sentinel)
        parts = urlsplit(self.url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if self.cluster:
            nodes = self.startup_nodes or ((parts.hostname or "localhost", parts.port or 6379),)
            return "Redis Cluster via " + ",".join(f"{h}:{p}" for h, p in nodes)
        return mask_url(f"{parts.scheme}://{netloc}{parts.path}" + (f"?{parts.query}" if parts.query else ""))

    def __repr__(self) -> str:
        # The generated repr would show the URL's password (configs end up in logs).
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["url"] = mask_url(self.url)
        return "RedisConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def _retry(self) -> Retry:
        if self.retries == 0:
            return Retry(NoBackoff(), 0)
        return Retry(ExponentialBackoff(cap=self.retry_backoff_cap_s, base=self.retry_backoff_base_s),
                     self.retries)

    def client_kwargs(self) -> dict[str, Any]:
        """The redis-py connection arguments this config implies (shared by every mode)."""
        kw: dict[str, Any] = {
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.socket_connect_timeout_s,
            "retry": self._retry(),
            "decode_responses": True,
        }
        if self.client_name:
            kw["client_name"] = self.client_name
        if self.max_connections is not None:
            kw["max_connections"] = self.max_connections
        return kw


def from_url(url: str, **settings: Any) -> RedisConfig:
    """Return a single-server :class:`RedisConfig` for ``url`` with other ``settings``.

    ``redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db]``
    builds a Sentinel config, and ``redis+cluster://[user:password@]host:port[,...]`` a
    Cluster config; their credentials are the master's / the nodes'.

    >>> from_url("redis+sentinel://s1:26379,s2:26379/cars/1").sentinel
    (('s1', 26379), ('s2', 26379))
    >>> from_url("redis+cluster://n1:7000,n2:7001").startup_nodes
    (('n1', 7000), ('n2', 7001))
    >>> from_url("redis+sentinel://:pw@s1:26379/cars/1")
    ... # doctest: +ELLIPSIS
    RedisConfig(url='redis://:***@localhost/1', sentinel=(('s1', 26379),), service_name='cars', ...)

    Raises:
        RedisConfigError: as :class:`RedisConfig`.
    """
    scheme, sep, rest = url.partition("://")
    if scheme in ("redis+sentinel", "redis+cluster"):
        hosts, _, path = rest.partition("/")
        # Credentials (user:password@) are the data nodes', carried in the url setting.
        userinfo, at, hosts = hosts.rpartition("@")
        nodes = _nodes(hosts.split(","), "url")
        if scheme == "redis+cluster":
            h, p = nodes[0]
            return RedisConfig(url=f"redis://{userinfo}{at}{h}:{p}/0", cluster=True, startup_nodes=nodes,
                               **settings)
        service, _, db = path.partition("/")
        return RedisConfig(url=f"redis://{userinfo}{at}localhost/{db or 0}", sentinel=nodes,
                           service_name=service or None, **settings)
    return RedisConfig(url=url, **settings)


def build_client(config: RedisConfig) -> redis.Redis | RedisCluster:
    """Build the live redis-py client for ``config`` (with its own connection pool).

    Single and Sentinel modes connect lazily (on the first command); Cluster mode
    fetches the slot map from a startup node now.

    Raises:
        redis.exceptions.RedisError: Cluster mode could not reach any startup node.
    """
    kw = config.client_kwargs()
    if config.sentinel:
        parts = urlsplit(config.url)
        sentinel_kw = {"socket_timeout": config.socket_timeout_s,
                       "socket_connect_timeout": config.socket_connect_timeout_s}
        sentinels = Sentinel(list(config.sentinel), sentinel_kwargs=sentinel_kw, **kw)
        db = int(parts.path.lstrip("/") or 0)
        return sentinels.master_for(config.service_name, db=db, username=parts.username,
                                    password=parts.password, **kw)
    if config.cluster:
        parts = urlsplit(config.url)
        nodes = config.startup_nodes or ((parts.hostname or "localhost", parts.port or 6379),)
        # The cluster client retries MOVED/ASK and failovers with its own Retry object.
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], username=parts.username,
                            password=parts.password, require_full_coverage=True, **kw)
    return redis.Redis.from_url(config.url, **kw)
