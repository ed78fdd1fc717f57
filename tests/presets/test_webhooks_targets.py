"""SSRF rules for webhook targets: what resolves to a non-public address is refused, in any spelling."""

from __future__ import annotations

import socket

import pytest

from chatpresets.errors import UnsafeUrl
from presets.webhooks.targets import resolve

REFUSED_ADDRESSES = [
    "http://127.0.0.1/",
    "http://2130706433/",  # decimal
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hex octet
    "http://0x7f000001/",  # hex number
    "http://017700000001/",  # octal number
    "http://127.1/",  # short form
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",  # IPv4-mapped, hex
    "http://[::127.0.0.1]/",  # IPv4-compatible IPv6
    "http://[64:ff9b::7f00:1]/",  # NAT64 of loopback
    "http://[::1]/",  # IPv6 loopback
    "http://[::]/",  # IPv6 unspecified
    "http://0.0.0.0/",
    "http://0/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # shared address space (carrier NAT)
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # cloud metadata, IPv6
    "http://[fd12:3456::1]/",  # unique local
    "http://[fe80::1]/",  # link-local
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",  # IPv6 multicast
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",  # broadcast
    "http://localhost:8000/",  # a name resolving to loopback
    "https://127.0.0.1:443/",
]


@pytest.mark.parametrize("url", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused_in_every_spelling(url: str, settings) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(UnsafeUrl) as refused:
        resolve(url)
    assert refused.value.code == "unsafe_url"
    assert refused.value.details["field"] == "url"


@pytest.mark.parametrize(
    "url",
    [
        "http://allowed.example@127.0.0.1/",  # userinfo tricks
        "http://93.184.215.14:80@127.0.0.1/",
        "http://user:pass@93.184.215.14/",
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "gopher://93.184.215.14/",
        "93.184.215.14/hook",  # no scheme
        "http:///hook",  # no host
        "http://93.184.215.14:99999/",  # port out of range
        "http://no-such-host.invalid/",  # does not resolve
    ],
)
def test_urls_that_are_not_plain_http_targets_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        resolve(url)


def test_a_public_address_resolves_to_a_pinned_target() -> None:
    target = resolve("https://93.184.215.14:8443/hooks?source=presets")
    assert target.pinned_url == "https://93.184.215.14:8443/hooks?source=presets"
    assert target.host_header == "93.184.215.14:8443"


def test_a_name_is_refused_when_any_of_its_addresses_is_private(monkeypatch) -> None:
    answers = {"mixed.example": ["93.184.215.14", "10.0.0.5"], "rebind.example": ["127.0.0.1"]}
    real = socket.getaddrinfo

    def fake_dns(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    for host in answers:
        with pytest.raises(UnsafeUrl):
            resolve(f"http://{host}/")


def test_the_allow_list_admits_its_networks_only(settings) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32", "169.254.0.0/16"]
    assert resolve("http://127.0.0.1:8080/hook").address == "127.0.0.1"
    assert resolve("http://2130706433:8080/").address == "127.0.0.1"  # the same address, spelled oddly
    for still_refused in ("http://127.0.0.2/", "http://[::1]/", "http://169.254.169.254/", "http://10.0.0.1/"):
        with pytest.raises(UnsafeUrl):
            resolve(still_refused)  # metadata stays refused even inside an allowed network
