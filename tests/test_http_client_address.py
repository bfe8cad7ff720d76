"""The client's address behind trusted reverse proxies: the resolver, and the password-request
limit through the real HTTP server."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.http_harness import Api, ApiOptions, start_api
from ussd_gateway.config import IpNetwork
from ussd_gateway.http.client_address import resolve_client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def resolve(peer: str | None, *forwarded_for: str,
            trusted: Sequence[IpNetwork] = PROXIES) -> str | None:
    return resolve_client_address(peer, forwarded_for, trusted)


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert resolve("10.0.0.5", "203.0.113.7", trusted=()) == "10.0.0.5"
    assert resolve(None, "203.0.113.7", trusted=()) is None


def test_an_untrusted_peer_cannot_speak_for_anyone_else() -> None:
    assert resolve("198.51.100.20", "203.0.113.7") == "198.51.100.20"
    assert resolve("198.51.100.20", "10.0.0.1, 203.0.113.7") == "198.51.100.20"
    assert resolve("2001:db8::20", "203.0.113.7") == "2001:db8::20"
    assert resolve("not an address", "203.0.113.7") == "not an address"


def test_a_trusted_peer_names_the_client() -> None:
    assert resolve("10.0.0.5", "203.0.113.7") == "203.0.113.7"
    assert resolve("10.0.0.5") == "10.0.0.5"  # no header: the proxy itself


def test_the_chain_is_read_from_the_right_past_trusted_hops() -> None:
    # The client forged the first entry; the proxies appended the rest.
    assert resolve("10.0.0.5", "1.1.1.1, 203.0.113.7, 10.0.0.9") == "203.0.113.7"
    # Several header lines are one list, in order.
    assert resolve("10.0.0.5", "1.1.1.1, 203.0.113.7", "10.0.0.9, 10.0.0.8") == "203.0.113.7"
    # Every hop trusted: the leftmost is as far as we can see.
    assert resolve("10.0.0.5", "10.0.0.1, 10.0.0.2") == "10.0.0.1"


def test_ipv6_peers_hops_and_ports() -> None:
    assert resolve("fd00::1", "2001:db8::7") == "2001:db8::7"
    assert resolve("fd00::1", "[2001:db8::7]:4711, fd00::2") == "2001:db8::7"
    assert resolve("10.0.0.5", "203.0.113.7:51000") == "203.0.113.7"
    assert resolve("10.0.0.5", "2001:DB8:0:0::7") == "2001:db8::7"  # one spelling per client
    # An IPv4 peer on a dual-stack socket is still the trusted 10.x proxy.
    assert resolve("::ffff:10.0.0.5", "203.0.113.7") == "203.0.113.7"
    assert resolve("10.0.0.5", "::ffff:203.0.113.7") == "203.0.113.7"


@pytest.mark.parametrize("header", [
    "203.0.113.7, unknown",
    "203.0.113.7, _hidden",
    "203.0.113.7, ",
    "203.0.113.7, 999.1.1.1",
    "203.0.113.7, [2001:db8::7",
    "203.0.113.7, 10.0.0.1:port",
    "203.0.113.7, for=198.51.100.1",
    "203.0.113.7, \x00\xff" + "x" * 5000,
])
def test_a_malformed_hop_stops_the_walk_at_the_peer(header: str) -> None:
    assert resolve("10.0.0.5", header) == "10.0.0.5"


def test_a_malformed_hop_stops_the_walk_at_the_last_good_address() -> None:
    assert resolve("10.0.0.5", "203.0.113.7, garbage, 10.0.0.9") == "10.0.0.9"
    assert resolve("10.0.0.5", "203.0.113.7, garbage", "10.0.0.9") == "10.0.0.9"


async def _ask_for_password_as(api: Api, client: str, msisdn: str) -> str:
    reply = await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": msisdn},
                           headers={"X-Forwarded-For": client})
    return f"{reply.status} {reply.problem_type}" if reply.status >= 400 else str(reply.status)


LIMITED = "429 client-rate-limited"


@pytest.mark.parametrize(("trusted", "second_client_answer"), [
    ((ipaddress.ip_network("127.0.0.0/8"),), "202"),  # behind the proxy: a limit per client
    ((), LIMITED),  # the header is ignored: one limit for everyone on this socket address
])
async def test_clients_behind_a_trusted_proxy_have_their_own_limit(
        tmp_path: Path, trusted: tuple[IpNetwork, ...], second_client_answer: str) -> None:
    options = ApiOptions(password_requests_per_client=1, trusted_proxies=trusted)
    async for api in start_api(tmp_path, options):
        assert await _ask_for_password_as(api, "203.0.113.7", "79169999991") == "202"
        assert await _ask_for_password_as(api, "203.0.113.7", "79169999992") == LIMITED
        assert await _ask_for_password_as(api, "198.51.100.9", "79169999993") \
            == second_client_answer
