"""``Alt-Svc`` (RFC 7838) as far as the client needs it: "this origin speaks HTTP/3 there".

A server reachable over TCP advertises HTTP/3 with a response header such as
``Alt-Svc: h3=":443"; ma=86400`` (RFC 9114 §3.1.1). With
``ClientConfig.alt_svc`` on, the pool then opens the origin's *next*
connection over QUIC to that port (connections already open are kept, as
browsers do), until the advertisement's ``ma`` (max age) runs out. If the
alternative cannot be reached, the pool falls back to TCP at once and leaves
the alternative alone for ``BROKEN_ALTERNATIVE_PERIOD`` (RFC 7838 §2.4: a
client must not let a broken alternative make the origin unusable).

Pure functions and a small table; the pool manager reads it. Only
alternatives on the origin's own host are taken (an empty host, the usual
form): the certificate is checked against the origin's name either way
(RFC 7838 §2.1), but another host is another operator's routing decision
that this client does not make.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: ``ma`` when the advertisement gives none: 24 hours (RFC 7838 §3.1).
DEFAULT_MAX_AGE = 86_400.0

#: How long an alternative that failed to connect is not tried again.
#: 5 minutes like Chromium's initial broken-alternative-service delay.
BROKEN_ALTERNATIVE_PERIOD = 300.0

#: One alternative: ``protocol-id = "host:port"`` then ``; param=value`` pairs.
_ENTRY = re.compile(
    r'\s*(?P<proto>[!#$%&\'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*"(?P<host>[^":]*|\[[^\]]*\]):(?P<port>\d{1,5})"'
    r"(?P<params>(?:\s*;\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=\s*(?:\"[^\"]*\"|[^,;\s]*))*)\s*"
)
_PARAM = re.compile(r";\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*(\"[^\"]*\"|[^,;\s]*)")


@dataclass(frozen=True, slots=True)
class H3Alternative:
    """HTTP/3 for an origin on UDP ``port`` of the same host, until ``expires_at``."""

    port: int
    expires_at: float


#: What a response's ``Alt-Svc`` says about HTTP/3: use an alternative, forget
#: them all (``clear``), or nothing we understand (None).
CLEAR = "clear"


def parse_h3_alternative(
    values: list[str], origin_host: str, now: float
) -> H3Alternative | str | None:
    """The HTTP/3 alternative in ``Alt-Svc`` header ``values`` (RFC 7838 §3).

    Returns ``CLEAR`` for ``Alt-Svc: clear``, an ``H3Alternative`` for the
    first ``h3`` entry on the origin's host (``ma`` seconds from ``now``), or
    None. Malformed entries are skipped, never raised.
    """
    for value in values:
        if value.strip().lower() == "clear":
            return CLEAR
        pos = 0
        while pos < len(value):
            match = _ENTRY.match(value, pos)
            if match is None:
                comma = value.find(",", pos)
                if comma < 0:
                    break
                pos = comma + 1
                continue
            pos = match.end()
            if pos < len(value) and value[pos] == ",":
                pos += 1
            if match["proto"] != "h3":
                continue
            host = match["host"].strip("[]")
            if host and host.lower() != origin_host.lower():
                continue
            port = int(match["port"])
            if not 0 < port < 65_536:
                continue
            max_age = DEFAULT_MAX_AGE
            for name, raw in _PARAM.findall(match["params"]):
                if name.lower() == "ma":
                    try:
                        max_age = float(int(raw.strip('"')))
                    except ValueError:
                        pass
            return H3Alternative(port, now + max_age)
    return None


class AltSvcTable:
    """Per-origin HTTP/3 alternatives and the ones found broken, with expiry."""

    __slots__ = ("_alternatives", "_broken")

    def __init__(self) -> None:
        self._alternatives: dict[tuple[str, str, int], H3Alternative] = {}
        self._broken: dict[tuple[str, str, int], float] = {}

    def note(self, origin: tuple[str, str, int], values: list[str], now: float) -> None:
        """Apply the ``Alt-Svc`` values of a response from ``origin`` (https only)."""
        if origin[0] != "https" or not values:
            return
        found = parse_h3_alternative(values, origin[1], now)
        if found == CLEAR:
            self._alternatives.pop(origin, None)
        elif isinstance(found, H3Alternative):
            self._alternatives[origin] = found

    def h3_port(self, origin: tuple[str, str, int], now: float) -> int | None:
        """The UDP port to try HTTP/3 on for ``origin`` now, or None."""
        alternative = self._alternatives.get(origin)
        if alternative is None:
            return None
        if now >= alternative.expires_at:
            del self._alternatives[origin]
            return None
        broken_until = self._broken.get(origin)
        if broken_until is not None:
            if now < broken_until:
                return None
            del self._broken[origin]
        return alternative.port

    def mark_broken(self, origin: tuple[str, str, int], now: float) -> None:
        """The alternative failed to connect: use TCP for a while (RFC 7838 §2.4)."""
        self._broken[origin] = now + BROKEN_ALTERNATIVE_PERIOD
