"""`faceapi serve --https` and `--lan` (issue 14): the cached self-signed certificate, the phone's address
with the token and its QR code, started by the tests and reached only through 127.0.0.1 (certificate errors
are ignored by these tests' clients only)."""

from __future__ import annotations

import ipaddress
import os
import re
import stat

import httpx
import pytest

from helpers import require


@pytest.fixture(scope="module")
def tls():
    require("cryptography")
    require("qrcode")
    require("cryptography")
    from faceapi.server import tls

    return tls


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def san_of(cert_path) -> tuple[set[str], set[str]]:
    x509 = require("cryptography.x509")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def test_certificate_is_private_cached_and_remade_when_needed(tls, tmp_path):
    folder = tmp_path / "tls"
    cert, key = tls.ensure_certificate(folder)
    assert (mode(folder), mode(key), mode(cert)) == (0o700, 0o600, 0o600)
    dns, ips = san_of(cert)
    assert "localhost" in dns and {"127.0.0.1", "::1"} <= ips and set(tls.lan_addresses()) <= ips
    first = cert.read_bytes()
    assert tls.ensure_certificate(folder) == (cert, key) and cert.read_bytes() == first  # cached
    tls.ensure_certificate(folder, extra_names=["faceapi.example", "10.9.8.7"])  # a new name: made anew
    dns, ips = san_of(cert)
    assert "faceapi.example" in dns and "10.9.8.7" in ips and cert.read_bytes() != first
    # a key that is not the certificate's (an interrupted write) is replaced, and modes are made private
    other = tmp_path / "other"
    tls.ensure_certificate(other)
    key.write_bytes((other / key.name).read_bytes())
    os.chmod(folder, 0o755)
    cert2, key2 = tls.ensure_certificate(folder, extra_names=["faceapi.example", "10.9.8.7"])
    assert key2.read_bytes() != (other / key.name).read_bytes() and mode(folder) == 0o700


def test_qr_codes(tls):
    url = "https://192.0.2.5:8000/?token=abc"
    svg = tls.qr_svg(url)
    assert svg.lstrip().startswith("<svg") or svg.lstrip().startswith("<?xml")
    assert 'fill="white"' in svg or "fill:white" in svg or "#fff" in svg.lower()
    text = tls.qr_text(url)
    assert len(text.splitlines()) > 10 and "█" in text


def test_serve_https_makes_and_uses_the_cached_certificate(models_dir, tmp_path, serve_process, tls):
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir), "FACEAPI_TLS_DIR": str(tmp_path / "tls")}
    with serve_process(["--https", "--no-gallery", "--log-level", "warning"], env) as srv:
        with httpx.Client(verify=False, timeout=60, follow_redirects=True) as browser:
            r = browser.get(srv.page_url)
            assert r.status_code == 200 and "<html" in r.text.lower() and str(r.url) == f"{srv.url}/"
            assert "Secure" in r.history[0].headers["set-cookie"]
            assert browser.get(f"{srv.url}/api/health").json().get("version")  # the cookie works
            assert browser.get(f"{srv.url}/api/phone").status_code == 404  # not on the LAN
        with srv.stream() as ws:  # wss:// with the token
            ws.send('{"type": "ping"}')
            assert ws.recv_json() == {"type": "pong"}
        with pytest.raises(httpx.HTTPError):  # no plain-HTTP way in: the TLS handshake fails
            httpx.get(f"http://127.0.0.1:{srv.port}/api/health", timeout=10)
    cert = tmp_path / "tls" / tls.CERT_FILE
    assert cert.is_file() and mode(tmp_path / "tls" / tls.KEY_FILE) == 0o600
    assert f"serving on https://127.0.0.1:{srv.port}/" in srv.stderr and srv.page_url in srv.stderr


def test_serve_lan_prints_the_phones_address_and_a_qr_code(models_dir, tmp_path, serve_process, tls):
    env = {**os.environ, "FACEAPI_MODELS": str(models_dir), "FACEAPI_TLS_DIR": str(tmp_path / "tls")}
    with serve_process(["--lan", "--no-gallery", "--log-level", "warning"], env) as srv, srv.client(timeout=60) as http:
        health = http.get("/api/health").json()  # waits for the server
        assert health["phone"] is True and health["access"]["token_required"] is True
        phone = http.get("/api/phone").json()
        assert phone["qr_svg"].lstrip().startswith(("<svg", "<?xml"))
        # the printed address: the machine's LAN address (or its name) with the token
        phone_url = phone["url"]
        host = re.match(r"https://([^/:\]]+|\[[^\]]+\]):(\d+)/\?token=(\S+)$", phone_url)
        assert host and host.group(2) == str(srv.port) and host.group(3) == srv.token, phone_url
        # reached through 127.0.0.1 only: the same path and query, the LAN host name as Host (the allow-list
        # must take it), certificate errors ignored here
        with httpx.Client(verify=False, timeout=60) as phone_browser:
            r = phone_browser.get(f"{srv.url}/?token={srv.token}", headers={"Host": f"{host.group(1)}:{srv.port}"})
            assert r.status_code == 303 and "Secure" in r.headers["set-cookie"] and r.headers["location"] == "/"
            r = phone_browser.get(f"{srv.url}/", headers={"Host": f"{host.group(1)}:{srv.port}"})
            assert r.status_code == 200 and "<html" in r.text.lower()
        with httpx.Client(verify=False, timeout=60, follow_redirects=True) as browser:
            r = browser.get(srv.page_url)
            assert r.status_code == 200 and "<html" in r.text.lower()
    log = srv.stderr
    assert phone_url in log, log
    assert "certificate" in log and "once" in log  # the sentence about the phone's one-time warning
    assert "█" in log  # the QR code
    cert = tmp_path / "tls" / tls.CERT_FILE
    dns, ips = san_of(cert)
    name = host.group(1).strip("[]")
    try:
        ipaddress.ip_address(name)
        assert name in ips
    except ValueError:
        assert name in dns
