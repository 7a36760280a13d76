"""Throwaway self-signed certificates for QUIC tests (TLS 1.3 is mandatory in QUIC).

``make_self_signed()`` builds an EC P-256 key and a certificate valid for
``localhost`` and ``127.0.0.1``/``::1``, in memory; ``write_self_signed(dir)``
also writes them as PEM files for tools that want paths (``--certfile`` /
``--keyfile``, ``QuicConfiguration.load_cert_chain``). Never use them for
anything but tests: the key is generated per call and never protected.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["SelfSignedCertificate", "make_self_signed", "write_self_signed"]


@dataclass(frozen=True, slots=True)
class SelfSignedCertificate:
    """A key and its self-signed certificate, as objects and as PEM bytes."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    certificate_pem: bytes
    private_key_pem: bytes


def make_self_signed(
    common_name: str = "localhost", *, valid_for: datetime.timedelta | None = None
) -> SelfSignedCertificate:
    """A fresh P-256 key and a certificate for ``localhost``, 127.0.0.1 and ::1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    lifetime = valid_for if valid_for is not None else datetime.timedelta(days=7)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName(common_name),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + lifetime)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCertificate(
        certificate=certificate,
        private_key=key,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def write_self_signed(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``cert.pem`` and ``key.pem`` into ``directory``; return their paths."""
    pair = make_self_signed()
    certfile = directory / "cert.pem"
    keyfile = directory / "key.pem"
    certfile.write_bytes(pair.certificate_pem)
    keyfile.write_bytes(pair.private_key_pem)
    keyfile.chmod(0o600)
    return certfile, keyfile
