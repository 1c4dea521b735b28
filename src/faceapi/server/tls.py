"""HTTPS for `faceapi serve --https` / `--lan`: a self-signed certificate made once and cached, the
machine's LAN addresses, and the phone's URL as a QR code.

Phones grant the camera only to pages served over HTTPS (or localhost), so serving the page to a phone on
the LAN needs TLS. A self-signed certificate is the honest minimum without a domain: the phone warns once,
the user accepts, and the traffic is encrypted. The certificate covers localhost, the loopback addresses,
the host name and every address given; it is cached in the user data folder (folder 0700, key 0600) and
made anew when it no longer covers the names asked for or is about to expire.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from faceapi.fileio import PRIVATE, atomic_write_bytes

#: A new certificate is valid this long; one expiring within RENEW_BEFORE is replaced.
VALIDITY = dt.timedelta(days=825)  # the longest lifetime Apple platforms accept for a TLS certificate
RENEW_BEFORE = dt.timedelta(days=30)
CERT_FILE, KEY_FILE = "faceapi-selfsigned.pem", "faceapi-selfsigned.key"


def default_tls_dir() -> Path:
    """``$FACEAPI_TLS_DIR``, else ``tls/`` in the user data folder (platformdirs)."""
    env = os.environ.get("FACEAPI_TLS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("faceapi")) / "tls"


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, most likely LAN address first.

    The first comes from the routing table: connecting a UDP socket picks the interface a packet would
    leave by, without sending anything. The rest come from resolving the host name."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere; a UDP connect sends no packet
        found.append(s.getsockname()[0])
    with contextlib.suppress(OSError):
        found += socket.gethostbyname_ex(socket.gethostname())[2]
    out: list[str] = []
    for a in found:
        ip = ipaddress.ip_address(a)
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local) and a not in out:
            out.append(a)
    return out


def _dns_name(name: str) -> str | None:
    """`name` as a certificate's DNS name (lowercase ASCII letters, digits, '-' and '.'), or None."""
    name = name.strip().lower().rstrip(".")
    if not name or len(name) > 253 or not all(c.isascii() and (c.isalnum() or c in "-.") for c in name):
        return None
    return name


def certificate_names(extra: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) the certificate must cover: localhost, loopback, the host name (also with
    ``.local``, as phones find it by mDNS), the LAN addresses and `extra` (names or addresses)."""
    dns = ["localhost"]
    ips = ["127.0.0.1", "::1"]
    host = socket.gethostname()
    candidates = [host, *([f"{host}.local"] if host and "." not in host else []), *lan_addresses(), *extra]
    for c in candidates:
        if not c:
            continue
        try:
            ip = ipaddress.ip_address(c.strip("[]"))
        except ValueError:
            name = _dns_name(c)
            if name is not None and name not in dns:
                dns.append(name)
        else:
            if str(ip) not in ips and not ip.is_unspecified:
                ips.append(str(ip))
    return dns, ips


def _usable(cert_path: Path, key_path: Path, dns: list[str], ips: list[str]) -> bool:
    """The cached pair can be used: the key is the certificate's, which covers every name and address
    asked for and is not about to expire."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
        return False  # a key and certificate from different runs (one write was interrupted)
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    fresh = cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc) > RENEW_BEFORE
    return fresh and set(dns) <= have_dns and set(ips) <= have_ips


def ensure_certificate(folder: str | os.PathLike[str] | None = None, extra_names: Iterable[str] = ()
                       ) -> tuple[Path, Path]:
    """The cached self-signed certificate and key (made or remade when needed): ``(certfile, keyfile)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root = Path(folder) if folder is not None else default_tls_dir()
    if not root.is_dir():
        root.mkdir(parents=True, mode=0o700)
    if root.stat().st_mode & 0o077:
        try:  # our folder, made readable by someone since: make it private again
            os.chmod(root, 0o700)
        except OSError as exc:
            raise OSError(f"the certificate folder {root} is readable by others and cannot be made private "
                          f"({exc}); set FACEAPI_TLS_DIR to a private folder") from exc
    cert_path, key_path = root / CERT_FILE, root / KEY_FILE
    dns, ips = certificate_names(extra_names)
    if key_path.is_file() and _usable(cert_path, key_path, dns, ips):
        os.chmod(key_path, 0o600)
        return cert_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"faceapi on {socket.gethostname()}")])
    now = dt.datetime.now(dt.timezone.utc)
    san = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # fileio's atomic writer: its temporary file is 0600 from the first byte (mkstemp), never world-readable
    atomic_write_bytes(key_path, key_pem, PRIVATE)
    atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM), PRIVATE)
    return cert_path, key_path


def qr_text(url: str) -> str:
    """`url` as a QR code drawn with block characters, for a terminal."""
    import io

    import qrcode

    qr = qrcode.QRCode(border=2)
    qr.add_data(url)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


def qr_svg(url: str) -> str:
    """`url` as a QR code in SVG (one path on a white background, so it reads on a dark page too), for the
    page."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathFillImage, border=4)
    return str(img.to_string(encoding="unicode"))
