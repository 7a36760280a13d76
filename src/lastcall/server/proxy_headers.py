"""``--proxy-headers``: trust X-Forwarded-For / X-Forwarded-Proto from known proxies.

Only peers listed in ``forwarded_allow_ips`` are believed (uvicorn's rule):
anyone else could claim any address. The *last* untrusted hop of
X-Forwarded-For is the client (each proxy appends the address it saw).

A peer on a unix socket is trusted too, whatever ``forwarded_allow_ips``
says. It has no address to list, and it is the common setup this option
exists for: nginx in front, ``proxy_pass http://unix:/run/app.sock``. Only
processes that may open the socket file reach it, a narrower circle than the
default ``127.0.0.1``, which any local process can connect to. gunicorn
trusts unix-socket peers the same way (a peer address that is not a tuple),
and so does waitress; uvicorn does not, and its users must set
``forwarded_allow_ips='*'``, which then trusts TCP peers too (uvicorn
issues #713, #931).

A unix-socket peer is recognised by ``client is None``: that is what the
connections pass for one (the ASGI ``client`` of a unix socket), and
``ConnectionBase.attach`` closes a TCP connection whose peer address it
cannot read, so a TCP peer never arrives here as ``None``.
"""

from __future__ import annotations

import ipaddress

__all__ = ["TrustedProxies"]

Address = tuple[str, int]


class TrustedProxies:
    """A set of trusted proxy addresses/networks (``*`` trusts every peer)."""

    __slots__ = ("_all", "_networks")

    def __init__(self, spec: str) -> None:
        items = [s.strip() for s in spec.split(",") if s.strip()]
        self._all = "*" in items
        self._networks = [ipaddress.ip_network(item, strict=False) for item in items if item != "*"]

    def is_trusted(self, host: str) -> bool:
        if self._all:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def apply(
        self, client: Address | None, scheme: str, headers: list[tuple[bytes, bytes]]
    ) -> tuple[Address | None, str]:
        """The (client, scheme) the scope should carry for a request with ``headers``.

        ``client`` None is a unix-socket peer, trusted (see the module docstring).
        """
        if client is not None and not self.is_trusted(client[0]):
            return client, scheme
        for name, value in headers:
            if name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
                if proto in ("http", "https", "ws", "wss"):
                    scheme = proto
            elif name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                for hop in reversed(hops):
                    if not self.is_trusted(hop) or hop == hops[0]:
                        client = (hop, 0)
                        break
        return client, scheme
