"""Who a request comes from, as the key of per-address limits.

Behind a reverse proxy the peer is the proxy; uvicorn puts the visitor's
address there only when it trusts the proxy's ``X-Forwarded-For``
(``--forwarded-allow-ips``).

IPv6 addresses are grouped by their /64: that is what one subscriber, or
one server at a hosting provider, is usually given, so keying on the full
address would let a single client take 2**64 fresh keys and never meet a
limit. IPv4 addresses (mapped into IPv6 or not) count one by one.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.requests import HTTPConnection


# Parsing an address costs more than a returning visitor's whole identify
# spends elsewhere in a route; the few hosts that call most (a website's
# backend, a proxy) are parsed once.
@functools.lru_cache(maxsize=4096)
def address_key(host: str | None) -> str:
    """``203.0.113.7`` as is, ``2001:db8:1:2:3:4:5:6`` as ``2001:db8:1:2::/64``."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP (a test client, a Unix socket): as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(connection: HTTPConnection) -> str:
    """The key the request's client is counted under."""
    return address_key(connection.client.host if connection.client else None)
