"""SMPP 3.4 session states and the commands each state allows, in one table.

As in h11's ``_state.py``: what is allowed is listed; anything missing is a protocol error,
and :func:`check_inbound` says which status to answer it with. :func:`may_send` is the
same table seen from our side. No I/O here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from aiosmpplib import SmppCommand, SmppCommandStatus

from smpp.codec import PduError

C = SmppCommand
Status = SmppCommandStatus


class Role(enum.Enum):
    SMSC = "smsc"  # we accept binds (the peer is an ESME)
    ESME = "esme"  # we bind (the peer is an SMSC)


class SessionState(enum.Enum):
    OPEN = "open"  # connected, not bound
    BOUND_TX = "bound_tx"  # the ESME side bound as transmitter
    BOUND_RX = "bound_rx"  # the ESME side bound as receiver
    BOUND_TRX = "bound_trx"  # the ESME side bound as transceiver
    UNBOUND = "unbound"  # unbind sent or received; only responses and the close remain
    CLOSED = "closed"


S = SessionState
BINDS: Final = frozenset({C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER})
BOUND: Final = frozenset({S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX})

# Requests the ESME side may send, by state; the SMSC side's are below.
_ESME_SENDS: Final[Mapping[SessionState, frozenset[int]]] = MappingProxyType({
    S.OPEN: BINDS | {C.ENQUIRE_LINK},
    S.BOUND_TX: frozenset({C.SUBMIT_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
    S.BOUND_RX: frozenset({C.ENQUIRE_LINK, C.UNBIND}),
    # deliver_sm from the ESME side: some USSD centres bound to an SMSC send requests
    # that way (a dialect choice), so it is allowed wherever submit_sm is.
    S.BOUND_TRX: frozenset({C.SUBMIT_SM, C.DATA_SM, C.DELIVER_SM, C.ENQUIRE_LINK, C.UNBIND}),
})
_SMSC_SENDS: Final[Mapping[SessionState, frozenset[int]]] = MappingProxyType({
    S.OPEN: frozenset({C.ENQUIRE_LINK}),
    S.BOUND_TX: frozenset({C.ENQUIRE_LINK, C.UNBIND}),
    S.BOUND_RX: frozenset({C.DELIVER_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
    S.BOUND_TRX: frozenset({C.DELIVER_SM, C.DATA_SM, C.ENQUIRE_LINK, C.UNBIND}),
})
# Valid SMPP 3.4 requests this gateway does not implement: refused as unknown.
UNSUPPORTED: Final = frozenset({
    C.QUERY_SM, C.CANCEL_SM, C.REPLACE_SM, C.SUBMIT_MULTI, C.ALERT_NOTIFICATION, C.OUTBIND,
})
AFTER_BIND: Final[Mapping[int, SessionState]] = MappingProxyType({
    C.BIND_TRANSMITTER: S.BOUND_TX,
    C.BIND_RECEIVER: S.BOUND_RX,
    C.BIND_TRANSCEIVER: S.BOUND_TRX,
})


def _sends(role: Role) -> Mapping[SessionState, frozenset[int]]:
    return _ESME_SENDS if role is Role.ESME else _SMSC_SENDS


def may_send(role: Role, state: SessionState, command_id: int) -> bool:
    """Whether we, in ``role``, may send request ``command_id`` in ``state``."""
    return command_id in _sends(role).get(state, frozenset())


def refusal(role: Role, state: SessionState, command_id: int) -> int | None:
    """The status to answer a request we received with; None when it is allowed."""
    peer_role = Role.SMSC if role is Role.ESME else Role.ESME
    if command_id in _sends(peer_role).get(state, frozenset()):
        return None
    if command_id in UNSUPPORTED:
        return int(Status.ESME_RINVCMDID)
    if command_id in BINDS and state in BOUND:
        return int(Status.ESME_RALYBND)
    return int(Status.ESME_RINVBNDSTS)


def check_inbound(role: Role, state: SessionState, command_id: int, sequence: int) -> None:
    """Raise PduError (with the status to answer) unless the peer may send this request."""
    status = refusal(role, state, command_id)
    if status is not None:
        raise PduError(f"{state.value}: request 0x{command_id:08x} not allowed", status,
                       sequence, command_id=command_id)


def after_bind(command_id: int) -> SessionState:
    """The state a successful bind of this kind leads to."""
    return AFTER_BIND[command_id]
