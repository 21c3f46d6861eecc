"""The SSRF guard refuses every spelling of an internal address, unless allow-listed, and
hands back the address it checked (the one to connect to)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from helpdesk_notifier.delivery.ssrf import (
    UnsafeUrl,
    parse_ipv4,
    parse_networks,
    parse_url,
    resolve,
)

LOOPBACK = parse_networks("127.0.0.0/8")

REFUSED = [
    # loopback, in every IPv4 spelling resolvers accept
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",
    "http://127.0.1/",
    "http://0x7F.1/",
    "http://127.000.000.001/",
    "http://127.0.0.1./",
    # private, CGNAT, link-local (cloud metadata), unspecified, multicast, reserved
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://0/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    # IPv6: loopback, unspecified, ULA, link-local, multicast, site-local
    "http://[::1]/",
    "http://[::]/",
    "http://[fd00::1]/",
    "http://[fc00::abcd]/",
    "http://[fe80::1]/",
    "http://[ff02::1]/",
    "http://[fec0::1]/",
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    # ports and userinfo do not change where it goes
    "http://127.0.0.1:8080/",
    "https://10.1.2.3:8443/x",
    # names that resolve to loopback
    "http://localhost/",
    "http://LOCALHOST:9000/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl, match="refused"):
        await resolve(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "http:///nohost",
        "http://user:pw@example.com/",
        "http://example.com:99999/",
        "http://[fe80::1%25eth0]/",
        "not a url",
    ],
)
async def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await resolve(url)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_ipv4_spellings_read_as_resolvers_read_them(spelling: str, address: str) -> None:
    assert parse_ipv4(spelling) == ipaddress.IPv4Address(address)
    # the same reading as the C library's
    assert socket.inet_ntoa(socket.inet_aton(spelling)) == address


@pytest.mark.parametrize(
    "name",
    [
        "example.com",
        "256.1.1.1",
        "1.2.3.4.5",
        "0x",
        "1..2",
        "08.1",
        "0x-1.0.0.1",
        "1_0.0.0.1",
        "+1.2.3.4",
        "\uff11.2.3.4",
    ],
)
def test_names_are_not_read_as_addresses(name: str) -> None:
    assert parse_ipv4(name) is None
    if not name[0].isalpha():
        with pytest.raises(OSError):
            socket.inet_aton(name)


async def test_public_address_passes_and_is_the_connect_target() -> None:
    target = await resolve("https://93.184.215.14:8443/hook?x=1")
    assert str(target.address) == "93.184.215.14"
    assert target.connect_url() == "https://93.184.215.14:8443/hook?x=1"
    assert target.host_header() == "93.184.215.14:8443"


async def test_allow_list_lets_loopback_through_in_every_spelling() -> None:
    for url in ("http://127.0.0.1:9/", "http://2130706433:9/", "http://[::ffff:127.0.0.1]:9/"):
        target = await resolve(url, LOOPBACK)
        assert str(target.address) == "127.0.0.1"
    # the allow-list is for the networks named, not for everything private
    with pytest.raises(UnsafeUrl, match="private"):
        await resolve("http://10.0.0.1/", LOOPBACK)


class _Resolver:
    """A loop whose getaddrinfo answers from a table, as a DNS server under an attacker's
    control would."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls = 0

    async def getaddrinfo(self, host: str, port: int, **_: Any) -> list[Any]:
        self.calls += 1
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


async def test_a_name_with_any_internal_address_is_refused() -> None:
    resolver = _Resolver({"mixed.example": ["93.184.215.14", "10.0.0.7"]})
    with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.7 is private"):
        await resolve("http://mixed.example/", loop=resolver)  # type: ignore[arg-type]


async def test_the_checked_address_is_the_one_connected_to_no_rebinding() -> None:
    # A rebinding server answers public first, loopback after; the guard resolves once and
    # the connection goes to the address it checked, with the name in the Host header.
    resolver = _Resolver({"rebind.example": ["93.184.215.14"]})
    target = await resolve("http://rebind.example:8080/in", loop=resolver)  # type: ignore[arg-type]
    resolver.answers["rebind.example"] = ["127.0.0.1"]
    assert resolver.calls == 1
    assert target.connect_url() == "http://93.184.215.14:8080/in"
    assert target.host_header() == "rebind.example:8080"


async def test_an_ipv4_mapped_answer_from_dns_is_refused() -> None:
    resolver = _Resolver({"mapped.example": ["::ffff:127.0.0.1"]})
    with pytest.raises(UnsafeUrl, match="loopback"):
        await resolve("http://mapped.example/", loop=resolver)  # type: ignore[arg-type]


def test_parse_url_normalises_the_host() -> None:
    parsed = parse_url("HTTP://0x7f.1:8080")
    assert (parsed.scheme, parsed.host, parsed.port, parsed.path) == (
        "http",
        "127.0.0.1",
        8080,
        "/",
    )


async def test_unresolvable_name_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await resolve("http://no-such-host.invalid/")


def test_networks_setting_parses_cidrs() -> None:
    assert parse_networks(" 127.0.0.0/8, ::1/128 ,") == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
