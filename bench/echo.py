"""The ceiling: the same SMPP stack as the gateway, answering every request with a fixed screen.

``python -m bench.echo --connect HOST:PORT`` binds the gateway's own ESME client (aiosmpplib +
the USSD TLV shim + the dialect mapping) and answers each USSD request at once, touching no
menus, sessions or store. The gateway's throughput is reported as a ratio of this.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from smpp.client import EsmeClient, EsmeSettings
from smpp.dialect import PROFILES
from smpp.ussd import UssdReply, UssdRequest

FIXED = UssdReply("Balance: 100.00 RUB", final=True)


async def echo(request: UssdRequest) -> UssdReply:
    return FIXED


async def run(host: str, port: int, dialect: str) -> None:
    client = EsmeClient(EsmeSettings(name="echo", host=host, port=port, system_id="echo",
                                     password="echo", dialect=PROFILES[dialect]), echo)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await client.start()
    try:
        await stop.wait()
    finally:
        await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo")
    parser.add_argument("--connect", required=True, metavar="HOST:PORT")
    parser.add_argument("--dialect", default="generic")
    args = parser.parse_args(sys.argv[1:])
    host, _, port = args.connect.rpartition(":")
    asyncio.run(run(host, int(port), args.dialect))


if __name__ == "__main__":
    main()
