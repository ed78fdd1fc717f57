"""Where a delivery may connect: SSRF checks on a webhook URL.

The URL must be http(s) without credentials. Its host is resolved ONCE with getaddrinfo (which
also reads the odd IPv4 spellings: 2130706433, 0177.0.0.1, 0x7f.1, 127.1) and the delivery then
connects to that address, so a second lookup cannot answer differently (DNS rebinding). Every
resolved address must be public: loopback, private, link-local, shared, multicast, unspecified
and reserved addresses are refused, as are IPv4-mapped, IPv4-compatible and NAT64 forms of them,
unless WEBHOOK_ALLOWED_NETWORKS contains the address. Cloud metadata addresses are refused even
then: no allow-list entry is meant to reach them.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from chatpresets.errors import UnsafeUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A checked URL and the one address to connect to for it."""

    scheme: str
    host: str  # as written in the URL: the Host header and the TLS server name
    port: int
    address: str
    path: str  # path and query

    @property
    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def resolve(url: str) -> Target:
    """Check `url` and resolve its host once; raises UnsafeUrl naming the reason."""
    parts = _parts(url)
    host, port = _ascii_host(parts.hostname or ""), _port(parts)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # gaierror is an OSError
        raise UnsafeUrl(f"The host {host!r} does not resolve.", details={"field": "url"}) from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in found))
    refused = [str(address) for address in addresses if not permitted(address)]
    if refused or not addresses:
        raise UnsafeUrl(
            "The URL resolves to an address deliveries may not reach (loopback, private, link-local, "
            "multicast, reserved or metadata).",
            details={"field": "url", "addresses": refused},
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, address=str(addresses[0]), path=path)


def _parts(url: str) -> SplitResult:
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise UnsafeUrl("Only http and https URLs are allowed.", details={"field": "url"})
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeUrl("The URL may not carry credentials.", details={"field": "url"})
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.", details={"field": "url"})
    return parts


def _ascii_host(host: str) -> str:
    """The host as it goes on the wire (IDNA for an international name), or UnsafeUrl."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeUrl("The URL's host is not a valid name.", details={"field": "url"}) from None


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise UnsafeUrl("The URL's port is not a number from 0 to 65535.", details={"field": "url"}) from None
    return port or DEFAULT_PORTS[parts.scheme]


def permitted(address: IPAddress) -> bool:
    """Whether a delivery may connect to `address` (and to any IPv4 address it embeds)."""
    forms = _forms(address)
    if any(form in METADATA_ADDRESSES for form in forms):
        return False
    allowed = allowed_networks()
    return all(_public(form) or any(form in network for network in allowed) for form in forms)


def _forms(address: IPAddress) -> list[IPAddress]:
    """The address and the IPv4 address inside it, for the IPv6 forms that carry one."""
    forms: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        packed = int(address)
        if address.ipv4_mapped is not None:
            forms.append(address.ipv4_mapped)
        elif address in NAT64 or packed >> 32 == 0:  # NAT64, or IPv4-compatible (::a.b.c.d)
            forms.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    return forms


def _public(address: IPAddress) -> bool:
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.WEBHOOK_ALLOWED_NETWORKS]
