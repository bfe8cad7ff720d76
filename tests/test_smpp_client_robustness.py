"""The ESME client against SMSCs that misbehave: it survives, reconnects, loses nothing."""

from __future__ import annotations

import asyncio

from aiosmpplib import PhoneNumber, SubmitSm

from smpp.client import EsmeClient
from smpp.esme_parts import Broker, JitteredBackoff
from smpp.ussd import UssdReply, UssdRequest
from tests.smscs import misbehaving, pdus
from tests.smscs.base import ScriptedSmsc
from tests.test_smpp_client import TIMEOUT, Menu, settings, ussd_request


async def started(smsc: ScriptedSmsc, client_handler: object = None, **overrides: object
                  ) -> EsmeClient:
    await smsc.start()
    handler = client_handler if client_handler is not None else Menu()
    client = EsmeClient(settings(smsc.port, **overrides), handler)  # type: ignore[arg-type]
    await client.start()
    assert await client.wait_bound(TIMEOUT)
    return client


async def test_link_dropped_mid_dialogue_reply_goes_out_after_reconnect() -> None:
    smsc = ScriptedSmsc()
    release = asyncio.Event()

    async def handler(request: UssdRequest) -> UssdReply:
        await release.wait()
        return UssdReply("Balance: 100.00", final=True)

    client = await started(smsc, handler)
    try:
        await smsc.deliver(ussd_request("*100#", 1, b"\x09\x00"))
        smsc.bound_connection.abort()
        await smsc.wait_binds(2)
        release.set()
        screen = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert screen.text == "Balance: 100.00"
        assert screen.tlvs[pdus.TAG_ITS_SESSION_INFO] == b"\x09\x01"
        assert client.reconnects >= 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_sms_in_flight_when_the_link_drops_is_resent() -> None:
    smsc = misbehaving.DropsOnFirstSubmit()
    client = await started(smsc)
    try:
        submission = await client.submit_sms("79161234567", "Your password: 1234")
        assert submission.status == "accepted"
        sms = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert sms.text == "Your password: 1234"
        assert smsc.dropped == 1 and smsc.binds >= 2
    finally:
        await client.stop()
        await smsc.stop()


async def test_silent_smsc_is_detected_as_dead_and_redialled() -> None:
    smsc = misbehaving.NeverAnswersEnquireLink()
    client = await started(smsc, enquire_link_interval=0.2, response_timeout=0.5)
    try:
        first = smsc.bound_connection
        await smsc.wait_binds(2)
        # the dead connection was closed by the client, not left dangling
        await asyncio.wait_for(first.closed.wait(), TIMEOUT)
        assert smsc.enquire_links >= 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_throttled_sms_is_resent_not_dropped() -> None:
    smsc = misbehaving.Throttles(3)
    client = await started(smsc)
    try:
        submission = await client.submit_sms("79161234567", "Your password: 1234")
        assert submission.status == "accepted"
        assert client.throttled == 3
        sms = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert sms.text == "Your password: 1234"
        assert smsc.submits.empty()  # exactly one accepted copy
    finally:
        await client.stop()
        await smsc.stop()


async def test_throttled_ussd_reply_is_resent() -> None:
    smsc = misbehaving.Throttles(2)
    client = await started(smsc)
    try:
        await smsc.deliver(ussd_request("*111#", 1, b"\x10\x00"))
        screen = await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert screen.text == "1 Balance\n2 Password"
        assert smsc.throttled == 2
    finally:
        await client.stop()
        await smsc.stop()


async def test_sms_still_throttled_at_the_deadline_reports_throttled() -> None:
    smsc = misbehaving.Throttles(10_000)
    client = await started(smsc, response_timeout=0.5)
    try:
        submission = await client.submit_sms("79161234567", "hi")
        assert submission.status == "throttled"
    finally:
        await client.stop()
        await smsc.stop()


async def test_huge_command_length_drops_the_link_and_redials() -> None:
    smsc = misbehaving.SendsAfterBind(misbehaving.huge_command_length())
    client = await started(smsc)
    try:
        await smsc.wait_binds(2)
        assert await client.wait_bound(TIMEOUT)
        await smsc.deliver(ussd_request("*111#", 1, b"\x01\x00"))
        assert (await asyncio.wait_for(smsc.submits.get(), TIMEOUT)).text.startswith("1 ")
    finally:
        await client.stop()
        await smsc.stop()


async def test_too_short_command_length_drops_the_link_and_redials() -> None:
    smsc = misbehaving.SendsAfterBind(misbehaving.short_command_length())
    client = await started(smsc)
    try:
        await smsc.wait_binds(2)
        assert await client.wait_bound(TIMEOUT)
    finally:
        await client.stop()
        await smsc.stop()


async def test_unknown_command_gets_generic_nack_and_the_link_stays() -> None:
    smsc = misbehaving.SendsAfterBind(misbehaving.unknown_command())
    client = await started(smsc)
    try:
        await smsc.wait_for(lambda: smsc.unsolicited)
        _, command_id, status, sequence = pdus.header(smsc.unsolicited[0])
        assert (command_id, status, sequence) == (pdus.GENERIC_NACK, pdus.ESME_RINVCMDID, 7)
        await smsc.deliver(ussd_request("*111#", 1, b"\x01\x00"))
        await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert smsc.binds == 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_unsupported_request_and_unknown_response_leave_the_link_up() -> None:
    data_sm = pdus.pack(0x00000103, 9, b"\x00" * 12)
    unknown_response = pdus.pack(0x80000777, 10)
    smsc = misbehaving.SendsAfterBind(unknown_response + data_sm)
    client = await started(smsc)
    try:
        await smsc.wait_for(lambda: smsc.unsolicited)
        _, command_id, status, sequence = pdus.header(smsc.unsolicited[0])
        assert (command_id, status, sequence) == (pdus.GENERIC_NACK, pdus.ESME_RINVCMDID, 9)
        assert len(smsc.unsolicited) == 1  # the stray response was not answered
        await smsc.deliver(ussd_request("*111#", 1, b"\x01\x00"))
        await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert smsc.binds == 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_deliver_sm_with_a_broken_body_gets_an_error_resp() -> None:
    smsc = ScriptedSmsc()
    client = await started(smsc)
    try:
        # a TLV that claims 9 octets but has 1: the link must survive it
        broken = pdus.deliver_sm(3, "79161234567", "111", b"*111#") + b"\x05\x01\x00\x09\x01"
        broken = len(broken).to_bytes(4, "big") + broken[4:]
        response = await smsc.bound_connection.request(broken)
        assert pdus.header(response)[2] != pdus.ESME_ROK
        await smsc.deliver(ussd_request("*111#", 1, b"\x01\x00"))
        await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
        assert smsc.binds == 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_refused_binds_are_retried_until_accepted() -> None:
    smsc = misbehaving.RefusesBinds(3)
    client = await started(smsc)
    try:
        assert smsc.bind_attempts == 4
        assert client.binds == 1
        assert client.reconnects >= 3
    finally:
        await client.stop()
        await smsc.stop()


async def test_transmitter_receiver_pair() -> None:
    smsc = ScriptedSmsc()
    client = await started(smsc, bind_mode="transmitter_receiver")
    try:
        assert sorted(c.bind_command for c in smsc.connections) == [
            pdus.BIND_RECEIVER, pdus.BIND_TRANSMITTER]
        # the request arrives on the receiver; the reply goes out on the transmitter
        await smsc.deliver(ussd_request("*111#", 1, b"\x01\x00"))
        assert (await asyncio.wait_for(smsc.submits.get(), TIMEOUT)).text.startswith("1 ")
    finally:
        await client.stop()
        await smsc.stop()


async def test_one_throttle_in_a_busy_hour_does_not_stall_sending() -> None:
    # upstream's throttle handler would deny all sending for minutes after this
    smsc = misbehaving.Throttles(1, after=60)
    client = await started(smsc, response_timeout=2.0)
    try:
        for n in range(62):
            submission = await client.submit_sms("79161234567", f"message {n}")
            assert submission.status == "accepted", n
        assert client.throttled == 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_requests_beyond_the_window_are_answered_throttled() -> None:
    smsc = ScriptedSmsc()
    release = asyncio.Event()

    async def slow(request: UssdRequest) -> UssdReply:
        await release.wait()
        return UssdReply("ok", final=True)

    client = await started(smsc, slow, window=2)
    try:
        statuses = []
        for session in (b"\x01\x00", b"\x02\x00", b"\x03\x00"):
            response = await smsc.deliver(ussd_request("*100#", 1, session))
            statuses.append(pdus.header(response)[2])
        assert statuses == [pdus.ESME_ROK, pdus.ESME_ROK, pdus.ESME_RTHROTTLED]
        assert client.refused == 1
        release.set()
        answered = {(await asyncio.wait_for(smsc.submits.get(), TIMEOUT)).text
                    for _ in range(2)}
        assert answered == {"ok"}
        # once the window has room again, new requests are served
        await smsc.deliver(ussd_request("*100#", 1, b"\x04\x00"))
        await asyncio.wait_for(smsc.submits.get(), TIMEOUT)
    finally:
        await client.stop()
        await smsc.stop()


async def test_stop_while_the_smsc_is_unreachable_returns() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = EsmeClient(settings(port), Menu())
    await client.start()
    assert not await client.wait_bound(0.3)
    assert (await client.submit_sms("79161234567", "hi")).status == "not_bound"
    await asyncio.wait_for(client.stop(), TIMEOUT)
    assert client.reconnects >= 1


async def test_backoff_grows_to_the_cap_and_resets_only_after_a_stable_link() -> None:
    retries: list[int] = []
    timer = JitteredBackoff(0.001, 0.004, lambda: retries.append(1))
    ceilings = []
    for _ in range(5):
        ceilings.append(timer.next_delay())
        await timer.wait()
    assert ceilings == [0.001, 0.002, 0.004, 0.004, 0.004]
    timer.reset()  # a bind that dropped at once does not reset the backoff
    assert timer.next_delay() == 0.004
    await timer.wait()
    timer.reset()
    await asyncio.sleep(0.01)  # the link stayed up longer than the cap
    await timer.wait()
    assert timer.next_delay() == 0.002  # started again from the minimum
    assert len(retries) == 7


async def test_smsc_that_stops_reading_is_dropped_and_redialled() -> None:
    smsc = misbehaving.StopsReading()
    client = await started(smsc, response_timeout=0.5)
    try:
        bulky = "Ж" * 30_000  # 60 KB each in UCS2: enough to fill the socket buffers
        results = await asyncio.gather(
            *(client.submit_sms("79161234567", bulky) for _ in range(120)))
        assert smsc.stuck.is_set()
        assert {r.status for r in results} <= {"timeout", "not_bound", "accepted"}
        await smsc.wait_binds(2)
        assert await client.wait_bound(TIMEOUT)
        assert (await client.submit_sms("79161234567", "after")).status == "accepted"
    finally:
        await client.stop()
        await smsc.stop()


async def test_smsc_that_answers_none_of_our_requests_is_dropped_and_redialled() -> None:
    # one small SMS fits in the socket buffers, so no write ever stalls: only the missing
    # answers tell that the SMSC's reader is stuck while it keeps sending enquire_link
    smsc = misbehaving.StopsReading()
    client = await started(smsc, response_timeout=0.5)
    try:
        assert (await client.submit_sms("79161234567", "first")).status == "timeout"
        assert smsc.stuck.is_set()
        await smsc.wait_binds(2)
        assert await client.wait_bound(TIMEOUT)
        assert (await client.submit_sms("79161234567", "after")).status == "accepted"
    finally:
        await client.stop()
        await smsc.stop()


async def test_one_lost_submit_response_does_not_drop_a_live_link() -> None:
    smsc = misbehaving.ForgetsFirstSubmit()
    client = await started(smsc, response_timeout=0.5)
    try:
        assert (await client.submit_sms("79161234567", "lost")).status == "timeout"
        for _ in range(200):  # the probe's enquire_link goes out and is answered
            if smsc.enquire_links:
                break
            await asyncio.sleep(0.05)
        assert smsc.enquire_links >= 1
        await asyncio.sleep(1.0)  # past the probe's own deadline: the link stays
        assert (await client.submit_sms("79161234567", "kept")).status == "accepted"
        assert smsc.binds == 1
    finally:
        await client.stop()
        await smsc.stop()


async def test_sms_whose_deadline_passed_while_queued_is_not_sent_later() -> None:
    # the caller was told "timeout" and will retry (the outbox does): sending the old copy
    # after the reconnect as well would deliver the SMS twice
    smsc = misbehaving.DropsOnFirstSubmit()
    # the re-bind (2-4 s away, jittered) comes only after the SMS's deadline (1 s)
    client = await started(smsc, response_timeout=1.0, reconnect_min=4.0, reconnect_max=4.0)
    try:
        assert (await client.submit_sms("79161234567", "too late")).status == "timeout"
        await smsc.wait_binds(2)
        assert await client.wait_bound(TIMEOUT)
        assert (await client.submit_sms("79161234567", "fresh")).status == "accepted"
        sent = [(await smsc.submits.get()).text for _ in range(smsc.submits.qsize())]
        assert sent == ["fresh"]
    finally:
        await client.stop()
        await smsc.stop()


async def test_stop_does_not_wait_for_answers_that_can_no_longer_go_out() -> None:
    # a request in hand while the link is lost: its answer has nowhere to go, so stop does not
    # sit out the whole response_timeout (here far longer than the bound below) for it
    smsc = ScriptedSmsc()
    taken_in = asyncio.Event()

    async def handler(request: UssdRequest) -> UssdReply:
        taken_in.set()
        await asyncio.sleep(3600)
        return UssdReply("never", final=True)

    client = await started(smsc, handler, response_timeout=120.0, reconnect_min=5.0,
                           reconnect_max=5.0)
    try:
        await smsc.deliver(ussd_request("*100#", 1, b"\x09\x00"))
        await asyncio.wait_for(taken_in.wait(), TIMEOUT)
        await smsc.stop()  # the link goes, the request stays in hand
        await asyncio.wait_for(client.stop(), 30.0)
    finally:
        await client.stop()


async def test_once_stopping_an_sms_waiting_for_a_lost_link_ends_now_and_is_never_sent() -> None:
    smsc = misbehaving.DropsOnFirstSubmit()
    # the re-bind comes 1.5-3 s after the drop: long after the checks before it
    client = await started(smsc, response_timeout=120.0, reconnect_min=3.0, reconnect_max=3.0)
    try:
        waiting = asyncio.ensure_future(client.submit_sms("79161234567", "in hand"))
        await smsc.wait_for(lambda: smsc.dropped == 1)  # the link goes, submit_sm unanswered
        await asyncio.sleep(0.1)
        assert not waiting.done()  # waiting for the re-bind to send it again
        client.begin_stop()
        result = await asyncio.wait_for(waiting, 30.0)
        assert result.status == "not_bound"
        await smsc.wait_binds(2)  # the link comes back before stop: the SMS stays unsent
        await asyncio.sleep(0.3)
        assert smsc.submits.empty()
    finally:
        await client.stop()
        await smsc.stop()


async def test_screens_leave_before_queued_sms_and_a_requeued_message_keeps_its_lane() -> None:
    # a handset waits on its screen; an SMS queued behind a burst can wait milliseconds
    broker = Broker(lambda message: True)
    sms = [SubmitSm(short_message=f"sms {i}", destination=PhoneNumber("79161234567"))
           for i in range(3)]
    screens = [SubmitSm(short_message=f"screen {i}", destination=PhoneNumber("79161234567"))
               for i in range(2)]
    for message in sms:
        await broker.enqueue(message)
    broker.enqueue_screen(screens[0])
    first = await broker.dequeue()
    broker.requeue_in_hand()  # the link went with it in hand: it goes first in its lane again
    broker.enqueue_screen(screens[1])
    order = [(await broker.dequeue()).short_message for _ in range(5)]
    assert first is screens[0]
    assert order == ["screen 0", "screen 1", "sms 0", "sms 1", "sms 2"]
