"""The ASGI ``tls`` scope extension: who is on the other end of a TLS connection.

With client certificates (``ssl_cert_reqs``) the handshake proves who the
client is; an app that authorises by certificate needs to see it. The ASGI
TLS extension (asgiref's ``specs/tls.rst``) carries it in
``scope["extensions"]["tls"]``:

- ``client_cert_chain``: the client's certificate as PEM (a one-item list:
  Python's ``ssl`` before 3.13 exposes the peer's leaf only), ``[]`` if none;
- ``client_cert_name``: its subject as an RFC 4514 string (``CN=alice,O=Example``);
- ``client_cert_error``: ``None`` (a certificate that did not verify never
  completes the handshake);
- ``tls_version``: the protocol's wire number (``0x0304`` for TLS 1.3);
- ``server_cert`` and ``cipher_suite``: ``None`` (not available from ``ssl``
  without reading files again; the spec allows it).

It is built once per connection, at the handshake, and the same dict is
put in each request's scope: one attribute test per request, and none on
a cleartext connection.
"""

from __future__ import annotations

import ssl
from typing import Any

__all__ = ["tls_extension"]

_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
#: The short names RFC 4514 §3 gives attribute types; others keep ssl's name.
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def _escape(value: str) -> str:
    """RFC 4514 §2.4: escape what would end or confuse an attribute value."""
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out[:1] in ("#", " "):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def rfc4514_name(subject: Any) -> str:
    """``getpeercert()['subject']`` (RDNs, most significant first) as RFC 4514
    (least significant first, ``,`` between RDNs, ``+`` within one)."""
    return ",".join(
        "+".join(f"{_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn)
        for rdn in reversed(subject)
    )


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    """The extension for a connection whose handshake is done; None without TLS."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    if der:
        name = rfc4514_name((ssl_object.getpeercert() or {}).get("subject", ()))
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }
