"""The client certificate of a request: from our TLS listener, or from a trusted proxy's header.

The TLS listener asks for a client certificate and verifies any it gets against our CA
(``mep.capif.tls``), so a certificate read from the connection is already verified. A proxy that
terminates TLS in front of the platform passes the client's certificate on in a header: Envoy's
``X-Forwarded-Client-Cert`` (``...;Cert="<url-encoded PEM>"``) or nginx's ``X-SSL-Client-Cert``
(``$ssl_client_escaped_cert``, url-encoded PEM). Those headers are read only when the connection
comes from an address in ``MEP_TRUSTED_PROXIES``, and the certificate they carry must still be
one our CA issued and valid now: a proxy is trusted to say which certificate the client showed,
not to vouch for certificates we never issued.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
from collections.abc import Sequence
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from mep.core import keys

ENVOY_HEADER = "X-Forwarded-Client-Cert"
NGINX_HEADER = "X-SSL-Client-Cert"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ForwardedCertificateError(ValueError):
    """A trusted proxy forwarded a certificate that is malformed or not one of ours."""


def peer_address(request: web.Request) -> str | None:
    """The address of the connection's other end (never a forwarded one)."""
    transport = request.transport
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
    if address is None or not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def tls_peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate of the TLS connection (verified by the handshake), if any."""
    transport = request.transport
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


def _split_unquoted(text: str, separator: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote_value(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def envoy_certificate_pem(header: str) -> str | None:
    """The PEM in ``Cert=`` of the last element of an ``X-Forwarded-Client-Cert`` header: the
    element the nearest proxy (the trusted one) added about the connection it received."""
    elements = [e for e in _split_unquoted(header, ",") if e.strip()]
    if not elements:
        return None
    for pair in _split_unquoted(elements[-1], ";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip().lower() == "cert":
            return unquote(_unquote_value(value))
    return None


def nginx_certificate_pem(header: str) -> str:
    """nginx's ``$ssl_client_escaped_cert`` (url-encoded), or the older ``$ssl_client_cert``
    (PEM whose continuation lines start with a tab)."""
    return unquote(header).replace("\t", "")


def load_forwarded(pem: str) -> x509.Certificate:
    text = pem.strip()
    try:
        if text.startswith("-----BEGIN"):
            return x509.load_pem_x509_certificate(text.encode())
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=False))
    except (ValueError, binascii.Error):
        raise ForwardedCertificateError("the forwarded client certificate is malformed") from None


def check_issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> None:
    """Raise :class:`ForwardedCertificateError` unless ``ca`` signed it, it is valid now and
    it may authenticate a TLS client."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ForwardedCertificateError(
            "the forwarded client certificate was not issued by this platform's CA"
        ) from None
    now = dt.datetime.now(dt.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise ForwardedCertificateError("the forwarded client certificate is not valid now")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise ForwardedCertificateError("the forwarded certificate is not a client certificate")


def forwarded_certificate(request: web.Request) -> x509.Certificate | None:
    """The certificate a proxy forwarded in this request's headers (unchecked), if any."""
    envoy = request.headers.get(ENVOY_HEADER)
    if envoy:
        pem = envoy_certificate_pem(envoy)
        return load_forwarded(pem) if pem else None
    nginx = request.headers.get(NGINX_HEADER)
    if nginx and nginx.strip() and nginx.strip() != "-":
        return load_forwarded(nginx_certificate_pem(nginx))
    return None


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate of this request, verified as issued by our CA, or ``None``.

    From a trusted proxy (``MEP_TRUSTED_PROXIES``), the forwarded header when present; from
    anyone else, only the TLS connection's own certificate. :class:`ForwardedCertificateError`
    when a trusted proxy forwards a certificate that is not a valid one of ours.
    """
    settings = request.app[keys.SETTINGS]
    if is_trusted(peer_address(request), settings.trusted_proxy_networks):
        forwarded = forwarded_certificate(request)
        if forwarded is not None:
            check_issued_by(forwarded, request.app[keys.CA].certificate)
            return forwarded
    return tls_peer_certificate(request)
