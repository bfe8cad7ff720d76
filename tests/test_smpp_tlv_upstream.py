"""What aiosmpplib 0.7.4 does with the USSD TLVs by itself: the reason smpp/tlv.py exists.

Each test asserts the upstream defect is STILL THERE. When one fails after an aiosmpplib
upgrade, upstream has fixed it: check the others, then the byte-level shim in smpp/tlv.py
(split_ussd_tlvs / append_ussd_tlvs) may be dropped in favour of aiosmpplib's own parsing.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest
from aiosmpplib import DeliverSm, SmppMessage

from tests.peers.raw import deliver_sm, tlv


def upstream_decode(raw: bytes) -> DeliverSm:
    header = SmppMessage.parse_header(raw)
    return DeliverSm.from_pdu(raw, header, "gsm0338")


def upstream_value(message: DeliverSm, tag: int) -> object:
    return next(p.value for p in message.optional_params if p.tag == tag)


def test_the_pinned_version_is_the_one_with_the_defect() -> None:
    assert version("aiosmpplib") == "0.7.4"


def test_upstream_still_reads_ussd_service_op_0_as_an_empty_string() -> None:
    message = upstream_decode(deliver_sm(1, b"1", tlvs=tlv(0x0501, b"\x00")))
    assert upstream_value(message, 0x0501) == "", "upstream fixed op 0: see module docstring"


def test_upstream_still_strips_the_trailing_zero_of_its_session_info() -> None:
    message = upstream_decode(deliver_sm(1, b"1", tlvs=tlv(0x1383, b"\x01\x00")))
    # Two octets on the wire, one character back: the end-of-session octet is lost.
    assert upstream_value(message, 0x1383) == "\x01", "upstream fixed its_session_info"


@pytest.mark.parametrize("value", [b"\x81", b"\xff"])
def test_upstream_still_rejects_a_service_op_of_0x80_or_more(value: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        upstream_decode(deliver_sm(1, b"1", tlvs=tlv(0x0501, value)))


def test_upstream_still_rejects_a_session_number_of_128_or_more() -> None:
    with pytest.raises(UnicodeDecodeError):
        upstream_decode(deliver_sm(1, b"1", tlvs=tlv(0x1383, b"\x80\x00")))
