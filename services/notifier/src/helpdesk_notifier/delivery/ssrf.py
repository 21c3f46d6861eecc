"""The SSRF guard: an outbound URL may only reach a public address, unless the operator
allow-listed the network.

The host is normalised first the way resolvers read it — IPv4 in decimal, octal, hex and
short forms (``2130706433``, ``0177.1``, ``0x7f.0.0.1``, ``127.1``), bracketed IPv6,
IPv4-mapped IPv6 — so no spelling slips past the check. Names are resolved once, every
address they resolve to is checked, and the caller connects to the address returned
(``Target.address``), never resolving again: a DNS answer that changes between the check
and the connection (rebinding) cannot redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused unless allow-listed. ``is_global`` alone misses some (multicast is "global"),
# so the ranges are named; the list is what an operator reads when a URL is refused.
_REFUSED: tuple[tuple[str, Network], ...] = tuple(
    (reason, ipaddress.ip_network(cidr))
    for reason, cidr in (
        ("unspecified", "0.0.0.0/8"),
        ("private", "10.0.0.0/8"),
        ("carrier-grade NAT", "100.64.0.0/10"),
        ("loopback", "127.0.0.0/8"),
        ("link-local", "169.254.0.0/16"),
        ("private", "172.16.0.0/12"),
        ("reserved", "192.0.0.0/24"),
        ("documentation", "192.0.2.0/24"),
        ("private", "192.168.0.0/16"),
        ("benchmarking", "198.18.0.0/15"),
        ("documentation", "198.51.100.0/24"),
        ("documentation", "203.0.113.0/24"),
        ("multicast", "224.0.0.0/4"),
        ("reserved", "240.0.0.0/4"),
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("IPv4-translated", "64:ff9b::/96"),
        ("IPv4-translated", "64:ff9b:1::/48"),
        ("discard", "100::/64"),
        ("documentation", "2001:db8::/32"),
        ("6to4", "2002::/16"),
        ("unique local", "fc00::/7"),
        ("link-local", "fe80::/10"),
        ("site-local", "fec0::/10"),
        ("multicast", "ff00::/8"),
    )
)


class UnsafeUrl(ValueError):
    """The URL is malformed, or reaches an address the guard refuses; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``), and what to call the host in the
    Host header and TLS SNI (``host``)."""

    scheme: str
    host: str
    port: int
    address: Address
    # Path and query, as sent in the request line.
    path: str

    def connect_url(self) -> str:
        """The URL with the checked address in place of the name."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    # The host as given, lower-cased, without brackets; or the canonical IP if it is one.
    host: str
    port: int
    path: str
    # Set when the host is an address in any spelling.
    literal: Address | None


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """``"127.0.0.0/8, ::1/128"`` (or a list of CIDRs) as networks."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in parts if p.strip())


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` spells as inet_aton reads it (1 to 4 parts, each decimal,
    octal with a leading 0, or hex with 0x; the last part fills the remaining bytes), or
    None if ``host`` is not such a spelling."""
    parts = host.split(".")
    if host.endswith(".") and len(parts) > 1:
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _ipv4_part(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (5 - len(numbers))):
        return None
    value = last
    for position, number in enumerate(leading):
        value |= number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def _ipv4_part(part: str) -> int | None:
    lowered = part.lower()
    # int() alone would also take signs, underscores and spaces, which resolvers do not.
    if lowered.startswith("0x"):
        digits, base, allowed = lowered[2:], 16, _HEX
    elif len(lowered) > 1 and lowered.startswith("0"):
        digits, base, allowed = lowered[1:], 8, _OCTAL
    else:
        digits, base, allowed = lowered, 10, _DECIMAL
    if not digits or not set(digits) <= allowed:
        return None
    return int(digits, base)


_HEX = frozenset("0123456789abcdef")
_OCTAL = frozenset("01234567")
_DECIMAL = frozenset("0123456789")


def parse_address(host: str) -> Address | None:
    """The address ``host`` spells (any IPv4 spelling, IPv6 with or without brackets), with
    IPv4-mapped and IPv4-compatible IPv6 turned into the IPv4 address they carry."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            v6 = ipaddress.IPv6Address(bare)
        except ValueError:
            return None
        if v6.ipv4_mapped is not None:
            return v6.ipv4_mapped
        return v6
    return parse_ipv4(bare)


def parse_url(url: str) -> ParsedUrl:
    """Syntax checks: http(s), a host, no credentials, a valid port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(f"the scheme must be http or https, not {parts.scheme or 'missing'!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL are not allowed; send them in a header")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrl("the URL has no host")
    if "%" in host:
        raise UnsafeUrl("IPv6 zone identifiers are not allowed")
    literal = parse_address(host)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return ParsedUrl(
        scheme=parts.scheme,
        host=str(literal) if literal is not None else host,
        port=port if port is not None else (443 if parts.scheme == "https" else 80),
        path=path,
        literal=literal,
    )


def refusal(address: Address, allowed: Iterable[Network] = ()) -> str | None:
    """Why ``address`` may not be reached (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or _ipv4_compatible(address)
        if carried is not None:
            return refusal(carried, allowed)
    if any(address.version == n.version and address in n for n in allowed):
        return None
    for reason, network in _REFUSED:
        if address.version == network.version and address in network:
            return f"{address} is {reason} ({network})"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _ipv4_compatible(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # ::a.b.c.d (deprecated, but some stacks still route it to the IPv4 address).
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def resolve(
    url: str, allowed: Iterable[Network] = (), *, loop: asyncio.AbstractEventLoop | None = None
) -> Target:
    """Check ``url`` and resolve its host; every address it resolves to must pass, and the
    first is the one to connect to. Raises UnsafeUrl."""
    parsed = parse_url(url)
    allowed = tuple(allowed)
    if parsed.literal is not None:
        addresses: list[Address] = [parsed.literal]
    else:
        loop = loop or asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                parsed.host, parsed.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError) as error:
            raise UnsafeUrl(f"{parsed.host} does not resolve: {error}") from None
        addresses = []
        for info in infos:
            address = parse_address(str(info[4][0]).split("%")[0])
            if address is not None and address not in addresses:
                addresses.append(address)
        if not addresses:
            raise UnsafeUrl(f"{parsed.host} resolves to no address")
    for address in addresses:
        reason = refusal(address, allowed)
        if reason is not None:
            raise UnsafeUrl(f"{parsed.host} is refused: {reason}")
    return Target(
        scheme=parsed.scheme,
        host=parsed.host,
        port=parsed.port,
        address=addresses[0],
        path=parsed.path,
    )
