"""``--proxy-headers``: trust X-Forwarded-For / X-Forwarded-Proto from known proxies.

Only peers listed in ``forwarded_allow_ips`` are believed (uvicorn's rule):
anyone else could claim any address. The *last* untrusted hop of
X-Forwarded-For is the client (each proxy appends the address it saw).
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
        """The (client, scheme) the scope should carry for a request with ``headers``."""
        if client is None or not self.is_trusted(client[0]):
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
