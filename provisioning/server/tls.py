"""A small CA and a broker certificate made with `cryptography` (for the event hotspot and the tests).

The CA's private key stays on the organiser's machine (0600); devices receive the CA certificate at
enrollment and verify the broker against it (no public PKI on a hotspot).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.private_files import private_dir, write_private


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path

    def ca_pem(self) -> str:
        return self.ca_cert.read_text()


# A device judges these certificates on its own clock, which can be minutes to years off until its first sync (the
# clock reply comes over this very broker; a handheld without a clock battery boots in 1970). So both are valid from
# the epoch and never expire (RFC 5280's "no well-defined expiration", 99991231235959Z): the CA is pinned at
# enrollment, so its window protects nothing and a narrow one only locked slow devices out and expired in a year.
NOT_BEFORE = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
NOT_AFTER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _expired(files: TlsFiles) -> bool:
    """A set made by an older version (365 days) that has run out: no device can log in with it any more."""
    now = dt.datetime.now(dt.timezone.utc)
    return any(x509.load_pem_x509_certificate(p.read_bytes()).not_valid_after_utc < now for p in (files.ca_cert, files.cert))


def ensure(folder: str | Path, hosts: list[str]) -> TlsFiles:
    """Create (once) ca.crt/ca.key and broker.crt/broker.key in `folder` for `hosts` (IPs or names); again when an
    older set has expired (its devices enroll again: they pin the CA)."""
    folder = Path(folder)
    files = TlsFiles(folder / "ca.crt", folder / "broker.crt", folder / "broker.key")
    if files.ca_cert.exists() and files.cert.exists() and files.key.exists() and not _expired(files):
        return files
    private_dir(folder)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("ticketgate event CA")).issuer_name(_name("ticketgate event CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0] if hosts else "broker")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private(folder / "ca.key", _key_pem(ca_key))
    write_private(files.key, _key_pem(key))
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files
