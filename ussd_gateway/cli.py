"""``ussd-gateway``: the command line. ``main(argv)`` returns the exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from menus import ScreenLimits

from .config import ConfigError, GatewayConfig, load_config
from .operator_cli import add_operator_commands

if TYPE_CHECKING:
    from smpp.control import DialResult

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        result: int = args.command(args)
        return result
    except ConfigError as exc:
        print(f"ussd-gateway: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ussd-gateway",
                                     description="USSD/SMS self-care gateway over SMPP 3.4")
    sub = parser.add_subparsers()

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", type=Path, default=Path("config.toml"),
                       help="path to config.toml (default: ./config.toml)")
        return p

    run = add("run", "run the gateway")
    run.set_defaults(command=_cmd_run)

    dial = add("dial", "dial a USSD code from a simulated handset and print the screens and SMS")
    dial.add_argument("msisdn")
    dial.add_argument("code")
    dial.add_argument("--reply", action="append", default=[], metavar="INPUT",
                      help="answer the next screen with INPUT (repeatable)")
    dial.add_argument("--json", action="store_true", help="print one JSON object")
    dial.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per screen")
    dial.add_argument("--sms-wait", type=float, default=2.0,
                      help="seconds to wait for SMS after the dialogue")
    dial.set_defaults(command=_cmd_dial)

    demo = add("demo", "dial *100#, *111*25# and *111*828*1# on a running gateway and print them")
    demo.add_argument("--msisdn", default="79160000001")
    demo.set_defaults(command=_cmd_demo)

    sim = add("simulator", "run the SMSC / USSD-centre simulator standalone")
    sim.add_argument("--connect", metavar="HOST:PORT",
                     help="bind as an ESME to a gateway's SMSC role instead of listening")
    sim.add_argument("--handset", metavar="MSISDN",
                     help="also run an interactive handset on this terminal")
    sim.set_defaults(command=_cmd_simulator)

    handset = add("handset", "an interactive handset against a running simulator")
    handset.add_argument("msisdn")
    handset.set_defaults(command=_cmd_handset)

    menus = sub.add_parser("menus", help="check or show the menu files")
    menus_sub = menus.add_subparsers()
    check = menus_sub.add_parser(
        "check", help="validate menu files (default: the config's menus.paths)")
    check.add_argument("paths", nargs="*", type=Path)
    check.add_argument("--config", type=Path, default=Path("config.toml"),
                       help="screen limits and keys come from here (default: ./config.toml)")
    check.set_defaults(command=_cmd_menus_check)
    show = menus_sub.add_parser("show", help="print the menu tree of a service code")
    show.add_argument("code")
    show.add_argument("--language", default="ru")
    show.add_argument("paths", nargs="*", type=Path)
    show.add_argument("--config", type=Path, default=Path("config.toml"))
    show.set_defaults(command=_cmd_menus_show)

    add_operator_commands(sub)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers()
    upgrade = db_sub.add_parser("upgrade", help="apply schema migrations")
    upgrade.add_argument("--config", type=Path, default=Path("config.toml"))
    upgrade.set_defaults(command=_cmd_db_upgrade)
    return parser


def _setup_logging(config: GatewayConfig) -> None:
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmpplib logs whole PDUs (and so SMS bodies) at its debug levels: keep it quiet.
    logging.getLogger("aiosmpplib").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _setup_logging(config)
    return asyncio.run(_run_gateway(config))


async def _run_gateway(config: GatewayConfig) -> int:
    from menus import MenuError

    from .gateway import Gateway, StartFailed

    log = logging.getLogger("ussd_gateway")
    gateway = Gateway(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[str | None]] = set()

    def reload_in_thread() -> None:
        # Loading menus reads and checks files: keep it off the event loop.
        task = asyncio.create_task(asyncio.to_thread(gateway.reload_menus))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_in_thread)
    try:
        running = await gateway.start()
    except MenuError as exc:
        print(f"ussd-gateway: menus refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, StartFailed, ValueError) as exc:
        # ValueError: a setting the config reader let through but a part refuses
        print(f"ussd-gateway: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    log.info("gateway running: http port %s, smpp %s%s", running.http_port,
             ", ".join(list(running.clients) + list(running.servers)) or "none",
             f", simulator on {config.simulator.host}:{running.simulator.port} (control "
             f"{running.simulator.control_port})" if running.simulator else "")
    try:
        await stop.wait()
    finally:
        log.info("stopping: unbinding SMPP, flushing, closing the store")
        await gateway.stop()
    return EXIT_OK


def _cmd_dial(args: argparse.Namespace) -> int:
    config = load_config(args.config, create_secret_key=False)
    result = _dial("dial", config, args.msisdn, args.code, args.reply,
                   timeout=args.timeout, sms_wait=args.sms_wait)
    if result is None:
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        _print_dialogue(result, sys.stdout)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    config = load_config(args.config, create_secret_key=False)
    for code in ("*100#", "*111*25#", "*111*828*1#"):
        print(f"=== {args.msisdn} dials {code}")
        result = _dial("demo", config, args.msisdn, code, (), timeout=10.0, sms_wait=2.0)
        if result is None:
            return EXIT_FAILED
        _print_dialogue(result, sys.stdout)
    return EXIT_OK


def _dial(command: str, config: GatewayConfig, msisdn: str, code: str,
          replies: Sequence[str], *, timeout: float, sms_wait: float) -> DialResult | None:
    """One dialogue through the simulator's control port; None (reason printed) on failure."""
    from smpp.control import SimulatorError, control_dial

    sim = config.simulator
    try:
        return asyncio.run(control_dial(sim.control_host, sim.control_port, msisdn, code,
                                        replies, timeout=timeout, sms_wait=sms_wait))
    except (SimulatorError, OSError, TimeoutError) as exc:
        print(f"ussd-gateway {command}: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return None


def _print_dialogue(result: DialResult, out: TextIO) -> None:
    for index, screen in enumerate(result.screens, 1):
        out.write(f"--- screen {index} ---\n{screen}\n")
    out.write("--- session ended ---\n" if result.session_ended
              else "--- session still open ---\n")
    for sms in result.sms:
        out.write(f"--- SMS from {sms.sender} ---\n{sms.text}\n")


def _cmd_simulator(args: argparse.Namespace) -> int:
    config = load_config(args.config, create_secret_key=False)
    _setup_logging(config)
    return asyncio.run(_run_simulator(config, args.connect, args.handset))


async def _run_simulator(config: GatewayConfig, connect: str | None, handset: str | None) -> int:
    from smpp.handset_cli import run_handset
    from smpp.simulator import Simulator, SimulatorSettings

    sim = config.simulator
    target = None
    if connect:
        host, _, port = connect.rpartition(":")
        if not host or not port.isdigit():
            print(f"ussd-gateway simulator: --connect expects HOST:PORT, got {connect!r}",
                  file=sys.stderr)
            return EXIT_USAGE
        target = (host, int(port))
    simulator = Simulator(SimulatorSettings(
        host=sim.host, port=sim.port, system_id=sim.system_id, password=sim.password,
        dialect=sim.dialect, control_host=sim.control_host,
        control_port=sim.control_port, connect=target))
    await simulator.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if handset:
            return await run_handset(sim.control_host, simulator.control_port, handset,
                                     sys.stdin, sys.stdout)
        await stop.wait()
        return EXIT_OK
    finally:
        await simulator.stop()


def _cmd_handset(args: argparse.Namespace) -> int:
    from smpp.handset_cli import run_handset

    config = load_config(args.config, create_secret_key=False)
    sim = config.simulator
    return asyncio.run(run_handset(sim.control_host, sim.control_port, args.msisdn,
                                   sys.stdin, sys.stdout))


def _menu_inputs(args: argparse.Namespace) -> tuple[list[Path], ScreenLimits]:
    from .gateway import screen_limits

    if args.config.exists():
        config = load_config(args.config, create_secret_key=False)
        return list(args.paths or config.menus.paths), screen_limits(config)
    return list(args.paths or [Path("menus")]), ScreenLimits()


def _cmd_menus_check(args: argparse.Namespace) -> int:
    from menus import check_menus

    from .actions import MENU_CONTRACT

    paths, limits = _menu_inputs(args)
    problems = check_menus(paths, MENU_CONTRACT, limits)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_FAILED
    print("menus OK")
    return EXIT_OK


def _cmd_menus_show(args: argparse.Namespace) -> int:
    from menus import MenuError, load_menus, show_menu

    from .actions import MENU_CONTRACT

    paths, limits = _menu_inputs(args)
    try:
        menus = load_menus(paths, MENU_CONTRACT, limits)
    except MenuError as exc:
        print(f"ussd-gateway menus show: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        print(show_menu(menus, args.code, args.language))
    except KeyError:
        print(f"ussd-gateway menus show: no menu for code {args.code!r}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = load_config(args.config)

    async def upgrade() -> None:
        from .store.database import Database

        db = await Database.connect(config.store.url)
        try:
            await db.upgrade()
        finally:
            await db.close()

    asyncio.run(upgrade())
    print("database schema is up to date")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
