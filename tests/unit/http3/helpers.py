"""Two real QUIC endpoints and a fake wire, driven by a fake clock (no sockets).

Like h11's ``ConnectionPair`` and aioquic's ``client_and_server()``: each side
is a whole QUIC connection (our ``Http3Engine``, or aioquic's own
``QuicConnection`` + ``H3Connection``, a peer we did not write); the wire
moves datagrams between them in memory and can hold or drop some, so loss
and reordering are scripted, and time only moves when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from aioquic._buffer import Buffer  # aioquic.buffer re-exports it without __all__ (mypy)
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import H3Event
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import pull_quic_header

from lastcall.engines.http3 import Http3Config, Http3Engine, Role
from lastcall.engines.http3 import events as ev
from lastcall.testing.quic_certs import SelfSignedCertificate

CLIENT_ADDR = ("10.0.0.1", 50_000)
SERVER_ADDR = ("10.0.0.2", 443)

E = TypeVar("E")


class Side(Protocol):
    """One end of the wire."""

    def receive(self, data: bytes, now: float) -> None: ...
    def datagrams(self, now: float) -> list[bytes]: ...
    def timer(self) -> float | None: ...
    def fire(self, now: float) -> None: ...


def client_quic_configuration(cert: SelfSignedCertificate) -> QuicConfiguration:
    """A client configuration that trusts only ``cert`` (real verification, no shortcuts)."""
    return QuicConfiguration(
        is_client=True, alpn_protocols=["h3"], cadata=cert.certificate_pem, server_name="localhost"
    )


def server_quic_configuration(cert: SelfSignedCertificate) -> QuicConfiguration:
    return QuicConfiguration(
        is_client=False,
        alpn_protocols=["h3"],
        certificate=cert.certificate,
        private_key=cert.private_key,
    )


class EngineSide:
    """Our engine on the wire; every event it reports is kept in ``events``."""

    def __init__(self, engine: Http3Engine, addr: tuple[str, int]) -> None:
        self.engine = engine
        self.peer_addr = addr
        self.events: list[ev.Event] = []

    def receive(self, data: bytes, now: float) -> None:
        self.events += self.engine.receive_datagram(data, self.peer_addr, now)

    def datagrams(self, now: float) -> list[bytes]:
        self.events += self.engine.pop_events()
        out = [data for data, _ in self.engine.datagrams_to_send(now)]
        self.events += self.engine.pop_events()
        return out

    def timer(self) -> float | None:
        return self.engine.get_timer()

    def fire(self, now: float) -> None:
        self.events += self.engine.handle_timer(now)

    def of(self, kind: type[E]) -> list[E]:
        self.events += self.engine.pop_events()
        return [e for e in self.events if isinstance(e, kind)]


class QuicSide:
    """aioquic's ``QuicConnection`` alone: a raw peer whose every HTTP/3 byte the
    test writes. Keeps the QUIC events (resets, close) and the raw bytes of the
    peer's unidirectional streams."""

    def __init__(self, quic: QuicConnection, addr: tuple[str, int]) -> None:
        self.quic = quic
        self.peer_addr = addr
        self.h3_events: list[H3Event] = []
        self.quic_events: list[qe.QuicEvent] = []
        self.uni_bytes: dict[int, bytearray] = {}

    def _on_event(self, event: qe.QuicEvent) -> None:
        pass

    def _drain(self) -> None:
        while (event := self.quic.next_event()) is not None:
            self.quic_events.append(event)
            if isinstance(event, qe.StreamDataReceived) and event.stream_id & 2:
                self.uni_bytes.setdefault(event.stream_id, bytearray()).extend(event.data)
            self._on_event(event)

    def receive(self, data: bytes, now: float) -> None:
        self.quic.receive_datagram(data, self.peer_addr, now)
        self._drain()

    def datagrams(self, now: float) -> list[bytes]:
        return [data for data, _ in self.quic.datagrams_to_send(now)]

    def timer(self) -> float | None:
        return self.quic.get_timer()

    def fire(self, now: float) -> None:
        self.quic.handle_timer(now)
        self._drain()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in [*self.h3_events, *self.quic_events] if isinstance(e, kind)]

    def close_code(self) -> int | None:
        closes = self.of(qe.ConnectionTerminated)
        return closes[0].error_code if closes else None

    def goaway_ids(self) -> list[int]:
        """Every GOAWAY id on the peer's control stream, parsed from the raw bytes
        with aioquic's own varint reader (RFC 9114 §7.2.6)."""
        for data in self.uni_bytes.values():
            buf = Buffer(data=bytes(data))
            if buf.pull_uint_var() != 0:  # not the control stream (RFC 9114 §6.2.1)
                continue
            ids = []
            while not buf.eof():
                frame_type = buf.pull_uint_var()
                length = buf.pull_uint_var()
                payload = buf.pull_bytes(length)
                if frame_type == 0x7:
                    ids.append(Buffer(data=payload).pull_uint_var())
            return ids
        return []


class AioquicSide(QuicSide):
    """aioquic's own HTTP/3 (``H3Connection``) over its ``QuicConnection``.

    aioquic discards GOAWAY frames, so tests parse the control stream
    themselves (``goaway_ids``).
    """

    def __init__(self, quic: QuicConnection, addr: tuple[str, int]) -> None:
        super().__init__(quic, addr)
        self.h3 = H3Connection(quic)

    def _on_event(self, event: qe.QuicEvent) -> None:
        self.h3_events += self.h3.handle_event(event)

    def stream_data(self, stream_id: int) -> tuple[bytes, bool]:
        """All DATA received on ``stream_id`` and whether it ended."""
        from aioquic.h3.events import DataReceived

        body = b"".join(
            e.data
            for e in self.h3_events
            if isinstance(e, DataReceived) and e.stream_id == stream_id
        )
        ended = any(
            getattr(e, "stream_ended", False) and getattr(e, "stream_id", None) == stream_id
            for e in self.h3_events
        )
        return body, ended


Filter = Callable[[bytes], bool]


class Wire:
    """Moves datagrams between a client side and a server side created on the
    client's first Initial (it needs the original destination connection id)."""

    def __init__(
        self, client: Side, make_server: Callable[[bytes], Side], now: float = 100.0
    ) -> None:
        self.client = client
        self.server: Side | None = None
        self._make_server = make_server
        self.now = now
        #: While True, client-to-server datagrams are kept in ``held``.
        self.hold_client = False
        self.held: list[bytes] = []
        #: Return True to drop a datagram (loss), per direction.
        self.drop_to_server: Filter = lambda data: False
        self.drop_to_client: Filter = lambda data: False

    def _to_server(self, data: bytes) -> None:
        if self.server is None:
            header = pull_quic_header(Buffer(data=data), host_cid_length=8)
            self.server = self._make_server(header.destination_cid)
        self.server.receive(data, self.now)

    def pump(self, rounds: int = 10_000) -> None:
        """Exchange datagrams until neither side has anything to send now."""
        for _ in range(rounds):
            moved = False
            for data in self.client.datagrams(self.now):
                moved = True
                if self.hold_client:
                    self.held.append(data)
                elif not self.drop_to_server(data):
                    self._to_server(data)
            if self.server is not None:
                for data in self.server.datagrams(self.now):
                    moved = True
                    if not self.drop_to_client(data):
                        self.client.receive(data, self.now)
            if not moved:
                return
        raise AssertionError("the wire never went quiet")

    def release_held(self) -> None:
        held, self.held = self.held, []
        for data in held:
            self._to_server(data)

    def advance(self) -> bool:
        """Jump to the next timer of either side and fire it; False if none is set."""
        sides = [s for s in (self.client, self.server) if s is not None]
        timers = [t for t in (s.timer() for s in sides) if t is not None]
        if not timers:
            return False
        self.now = max(self.now, min(timers))
        for side in sides:
            timer = side.timer()
            if timer is not None and timer <= self.now:
                side.fire(self.now)
        return True

    def run_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Pump and move time until ``predicate()``; fail if ``within`` seconds of
        fake time pass first."""
        deadline = self.now + within
        while True:
            self.pump()
            if predicate():
                return
            if not self.advance() or self.now > deadline:
                raise AssertionError(f"condition not reached within {within} s of fake time")


def server_has(wire: Wire, kind: type[ev.Event]) -> bool:
    """Our server engine exists on the wire and has reported an event of ``kind``."""
    return isinstance(wire.server, EngineSide) and bool(wire.server.of(kind))


def our_server(
    cert: SelfSignedCertificate, config: Http3Config | None = None
) -> Callable[[bytes], EngineSide]:
    def make(odcid: bytes) -> EngineSide:
        engine = Http3Engine(
            Role.SERVER,
            config,
            server_quic_configuration(cert),
            original_destination_connection_id=odcid,
        )
        return EngineSide(engine, CLIENT_ADDR)

    return make


def aioquic_server(cert: SelfSignedCertificate) -> Callable[[bytes], AioquicSide]:
    def make(odcid: bytes) -> AioquicSide:
        quic = QuicConnection(
            configuration=server_quic_configuration(cert),
            original_destination_connection_id=odcid,
        )
        return AioquicSide(quic, CLIENT_ADDR)

    return make


def our_client(
    cert: SelfSignedCertificate, config: Http3Config | None = None, now: float = 100.0
) -> EngineSide:
    engine = Http3Engine(Role.CLIENT, config, client_quic_configuration(cert))
    engine.connect(SERVER_ADDR, now)
    return EngineSide(engine, SERVER_ADDR)


def aioquic_client(cert: SelfSignedCertificate, now: float = 100.0) -> AioquicSide:
    quic = QuicConnection(configuration=client_quic_configuration(cert))
    side = AioquicSide(quic, SERVER_ADDR)
    quic.connect(SERVER_ADDR, now)
    return side


def raw_client(cert: SelfSignedCertificate, now: float = 100.0) -> QuicSide:
    """A QUIC client with no HTTP/3 of its own (it sends no SETTINGS until told)."""
    quic = QuicConnection(configuration=client_quic_configuration(cert))
    side = QuicSide(quic, SERVER_ADDR)
    quic.connect(SERVER_ADDR, now)
    return side


def request_headers(path: bytes = b"/", method: bytes = b"GET") -> list[tuple[bytes, bytes]]:
    return [
        (b":method", method),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", path),
    ]
