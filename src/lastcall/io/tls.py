"""TLS server contexts with ALPN (RFC 7301): ``h2`` first, then ``http/1.1``.

RFC 9113 §9.2 requires TLS 1.2 or later for HTTP/2 (and bans compression and
renegotiation, which ``ssl.create_default_context`` already disables).
"""

from __future__ import annotations

import ssl

__all__ = ["ALPN_H2", "ALPN_HTTP11", "negotiated_protocol", "server_context"]

ALPN_H2 = "h2"
ALPN_HTTP11 = "http/1.1"


def server_context(
    certfile: str,
    keyfile: str | None = None,
    *,
    http2: bool = True,
    password: str | None = None,
    ca_certs: str | None = None,
    cert_reqs: ssl.VerifyMode = ssl.CERT_NONE,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """A server-side context offering ``h2`` (if ``http2``) and ``http/1.1`` by ALPN.

    ``cert_reqs`` asks clients for a certificate, checked against
    ``ca_certs``; ``ciphers`` replaces the TLS 1.2 cipher list
    (``ssl.SSLError`` if OpenSSL selects none from it).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile, password)
    if ca_certs:
        context.load_verify_locations(ca_certs)
    context.verify_mode = cert_reqs
    if ciphers is not None:
        context.set_ciphers(ciphers)
    context.set_alpn_protocols([ALPN_H2, ALPN_HTTP11] if http2 else [ALPN_HTTP11])
    return context


def negotiated_protocol(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """The ALPN protocol the handshake chose, or ``None`` (no TLS, or no ALPN)."""
    if ssl_object is None:
        return None
    return ssl_object.selected_alpn_protocol()
