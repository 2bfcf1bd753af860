"""A throwaway certificate authority for TLS listeners in the tests.

:func:`make_ca` makes a self-signed CA and a server certificate it signs for
``127.0.0.1`` and ``localhost`` (EC P-256, valid for a day), with
``cryptography``. The real Kafka broker's SASL_SSL listener loads them as a
PEM key store given inline (``ssl.keystore.type=PEM``,
``ssl.keystore.certificate.chain``, ``ssl.keystore.key``): Kafka's PEM parser
drops whitespace inside the base64, so each PEM block fits on one line of
``server.properties`` (:meth:`LoopbackCa.one_line`). The chain is the server's
certificate alone: on one line, the greedy header pattern of Kafka's parser
would take two blocks for one and serve the CA's certificate as the server's.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import ssl
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from pathlib import Path


@dataclasses.dataclass(frozen=True, slots=True)
class LoopbackCa:
    """The CA's certificate (PEM, and as a file), and the server's key and chain."""

    ca_pem: bytes
    ca_file: Path
    server_key_pem: bytes = dataclasses.field(repr=False)
    server_chain_pem: bytes

    @staticmethod
    def one_line(pem: bytes) -> str:
        """A PEM block with its line breaks as spaces: one ``.properties`` line."""
        return " ".join(pem.decode("ascii").split())

    def server_context(self, folder: Path) -> ssl.SSLContext:
        """An ``ssl`` server context presenting the server's certificate (for the
        loopback servers the tests run themselves)."""
        chain = folder / "server.pem"
        chain.write_bytes(self.server_key_pem + self.server_chain_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(chain)
        return context

    def kafka_listener_properties(self, listener: str) -> dict[str, str]:
        """``listener``'s PEM key store, as server.properties states it."""
        prefix = f"listener.name.{listener.lower()}.ssl."
        return {
            prefix + "keystore.type": "PEM",
            prefix + "keystore.certificate.chain": self.one_line(self.server_chain_pem),
            prefix + "keystore.key": self.one_line(self.server_key_pem),
        }


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(folder: Path) -> LoopbackCa:
    """A new CA and a server certificate for loopback; the CA's PEM goes to ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(minutes=5)
    end = now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder(
            subject_name=_name("oauthbearer test CA"),
            issuer_name=_name("oauthbearer test CA"),
            public_key=ca_key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=start,
            not_valid_after=end,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder(
            subject_name=_name("localhost"),
            issuer_name=ca_cert.subject,
            public_key=server_key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=start,
            not_valid_after=end,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_pem)
    return LoopbackCa(
        ca_pem=ca_pem,
        ca_file=ca_file,
        server_key_pem=server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        server_chain_pem=server_cert.public_bytes(pem),
    )
