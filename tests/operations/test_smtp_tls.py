"""STARTTLS and SMTPS against a real TLS-speaking SMTP server on 127.0.0.1 (self-signed test certificate)."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ops_smtp import Recorder, free_port

from datahealth.operations import outbox

SUBJECT = "【回答期限の延長】テスト調査"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _queue(session_factory, clock) -> None:
    with session_factory.begin() as db:
        outbox.enqueue(
            db, kind="extension", to_address="it@hospital.example", subject=SUBJECT, body="本文", now=clock()
        )


def test_starttls_is_used_and_the_certificate_verified(session_factory, mail_settings, certificate, clock):
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=_server_context(certificate),
        require_starttls=True,
    )
    controller.start()
    try:
        plain = mail_settings.model_copy(update={"smtp_port": controller.port})
        _queue(session_factory, clock)
        refused = outbox.deliver_due(session_factory, plain, clock)  # the server demands STARTTLS: kept queued
        assert refused.deferred == 1 and "530" in refused.error
        clock.moment += timedelta(minutes=2)
        untrusted = plain.model_copy(update={"smtp_security": "starttls"})
        report = outbox.deliver_due(session_factory, untrusted, clock)  # self-signed, not trusted: refused
        assert report.deferred == 1 and "SSL" in report.error
        clock.moment += timedelta(minutes=5)
        trusted = untrusted.model_copy(update={"smtp_ca_file": str(certificate[0])})
        assert outbox.deliver_due(session_factory, trusted, clock).sent == 1
        [mail] = recorder.mails
        assert mail.subject == SUBJECT and mail.body == "本文\n"
    finally:
        controller.stop()


class _ImplicitTls(Controller):
    """aiosmtpd speaking TLS from the first byte (SMTPS, port 465 style)."""

    def _trigger_server(self) -> None:  # the readiness probe must speak TLS too
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        import socket

        with socket.create_connection((self.hostname, self.port), timeout=5) as raw:
            with context.wrap_socket(raw) as tls:
                tls.recv(1024)


def test_smtps_from_the_first_byte(session_factory, mail_settings, certificate, clock):
    recorder = Recorder()
    controller = _ImplicitTls(
        recorder, hostname="127.0.0.1", port=free_port(), ssl_context=_server_context(certificate)
    )
    controller.start()
    try:
        settings = mail_settings.model_copy(
            update={"smtp_port": controller.port, "smtp_security": "ssl", "smtp_ca_file": str(certificate[0])}
        )
        _queue(session_factory, clock)
        assert outbox.deliver_due(session_factory, settings, clock).sent == 1
        assert [m.subject for m in recorder.mails] == [SUBJECT]
    finally:
        controller.stop()
