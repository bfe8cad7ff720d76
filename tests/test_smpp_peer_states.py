"""The session state table, property-tested (h2's test_state_machines idea)."""

from __future__ import annotations

import pytest
from aiosmpplib import SmppCommand
from hypothesis import given
from hypothesis import strategies as st

from smpp.codec import PduError
from smpp.states import (
    BINDS,
    BOUND,
    Role,
    SessionState,
    after_bind,
    check_inbound,
    may_send,
    refusal,
)

REQUESTS = [c for c in SmppCommand if not c & 0x80000000]


@given(st.sampled_from(list(Role)), st.sampled_from(list(SessionState)),
       st.sampled_from(REQUESTS))
def test_what_one_side_may_send_is_exactly_what_the_other_accepts(
    role: Role, state: SessionState, command: SmppCommand
) -> None:
    other = Role.SMSC if role is Role.ESME else Role.ESME
    assert may_send(role, state, command) == (refusal(other, state, command) is None)


@given(st.sampled_from(list(Role)), st.sampled_from(list(SessionState)),
       st.sampled_from(REQUESTS), st.integers(0, 0x7FFFFFFF))
def test_a_refusal_always_carries_a_status_and_the_sequence(
    role: Role, state: SessionState, command: SmppCommand, sequence: int
) -> None:
    status = refusal(role, state, command)
    if status is None:
        check_inbound(role, state, command, sequence)
        return
    with pytest.raises(PduError) as caught:
        check_inbound(role, state, command, sequence)
    assert caught.value.command_status == status != 0
    assert caught.value.sequence_number == sequence
    assert not caught.value.close_connection


def test_binds_only_when_open_and_already_bound_after() -> None:
    for bind in BINDS:
        assert refusal(Role.SMSC, SessionState.OPEN, bind) is None
        assert after_bind(bind) in BOUND
        for state in BOUND:
            assert refusal(Role.SMSC, state, bind) == 0x05  # ESME_RALYBND


def test_who_sends_what() -> None:
    smsc, esme = Role.SMSC, Role.ESME
    assert refusal(smsc, SessionState.OPEN, SmppCommand.SUBMIT_SM) == 0x04
    assert refusal(smsc, SessionState.BOUND_RX, SmppCommand.SUBMIT_SM) == 0x04
    assert refusal(smsc, SessionState.BOUND_TX, SmppCommand.SUBMIT_SM) is None
    assert refusal(smsc, SessionState.BOUND_TRX, SmppCommand.QUERY_SM) == 0x03
    assert not may_send(smsc, SessionState.BOUND_TX, SmppCommand.DELIVER_SM)
    assert may_send(smsc, SessionState.BOUND_RX, SmppCommand.DELIVER_SM)
    assert may_send(esme, SessionState.BOUND_TRX, SmppCommand.SUBMIT_SM)
    for role in Role:
        assert not may_send(role, SessionState.UNBOUND, SmppCommand.ENQUIRE_LINK)
        assert refusal(role, SessionState.CLOSED, SmppCommand.ENQUIRE_LINK) is not None
