"""An interactive handset on a terminal, driving a running simulator's control interface.

Type a code (``*100#``) to dial it and see the screen; while a dialogue is open every
line is the reply to the screen shown. ``inbox`` lists the SMS this handset received,
``cancel`` hangs up, ``quit`` (or end of input) leaves.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from smpp.control import ControlClient, ControlUnavailable, Screen, SimulatorError


class LineSource(Protocol):
    """What the handset reads from: ``sys.stdin`` or anything with ``readline``."""

    def readline(self) -> str: ...


class TextSink(Protocol):
    """What the handset writes to: ``sys.stdout`` or anything like it."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


HELP = "Dial a code like *100#; then reply to each screen. Also: inbox, cancel, help, quit."


async def run_handset(
    host: str,
    port: int,
    msisdn: str,
    stdin: LineSource,
    stdout: TextSink,
    *,
    screen_timeout: float = 10.0,
) -> int:
    """Run the handset until ``quit`` or end of input; 0 on a normal exit, 1 otherwise."""
    try:
        client = await ControlClient.connect(host, port)
    except SimulatorError as error:
        _say(stdout, f"error: {error}")
        return 1
    handset = _Handset(client, msisdn, stdout, screen_timeout)
    try:
        _say(stdout, f"Handset {msisdn}. {HELP}")
        return await handset.run(stdin)
    finally:
        await client.close()


class _Handset:
    def __init__(self, client: ControlClient, msisdn: str, stdout: TextSink,
                 screen_timeout: float) -> None:
        self._client = client
        self._msisdn = msisdn
        self._out = stdout
        self._screen_timeout = screen_timeout
        self._in_dialogue = False

    async def run(self, stdin: LineSource) -> int:
        while True:
            self._prompt()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                await self._hang_up()
                _say(self._out, "")
                return 0
            command = line.strip()
            try:
                if command.lower() in ("quit", "exit"):
                    await self._hang_up()
                    return 0
                await self._handle(command)
            except SimulatorError as error:
                self._in_dialogue = False
                _say(self._out, f"error: {error}")
                if isinstance(error, ControlUnavailable):
                    return 1

    async def _handle(self, command: str) -> None:
        lowered = command.lower()
        if not command:
            return
        if lowered == "help":
            _say(self._out, HELP)
        elif lowered == "inbox":
            await self._show_inbox()
        elif lowered == "cancel":
            await self._hang_up()
            _say(self._out, "[cancelled]")
        elif self._in_dialogue:
            self._show(await self._client.reply(self._msisdn, command, self._screen_timeout))
        elif command[0] in "*#":
            self._show(await self._client.begin(self._msisdn, command, self._screen_timeout))
        else:
            _say(self._out, "No dialogue is open. " + HELP)

    async def _hang_up(self) -> None:
        if self._in_dialogue:
            self._in_dialogue = False
            await self._client.cancel(self._msisdn)

    async def _show_inbox(self) -> None:
        messages = await self._client.inbox(self._msisdn)
        if not messages:
            _say(self._out, "(no SMS)")
        for number, sms in enumerate(messages, 1):
            _say(self._out, f"SMS {number} from {sms.sender}: {sms.text}")

    def _show(self, screen: Screen) -> None:
        self._in_dialogue = not screen.final
        rule = "-" * 24
        _say(self._out, rule)
        for line in screen.text.splitlines() or [""]:
            _say(self._out, f"  {line}")
        _say(self._out, rule)
        if screen.final:
            _say(self._out, "[session ended]")

    def _prompt(self) -> None:
        self._out.write("reply> " if self._in_dialogue else "dial> ")
        self._out.flush()


def _say(stdout: TextSink, text: str) -> None:
    stdout.write(text + "\n")
    stdout.flush()
