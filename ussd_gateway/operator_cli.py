"""CLI twins of the operator API for scripts: import and show subscribers, top up.

``add_operator_commands(subparsers)`` registers them on the main ``ussd-gateway`` parser. Each
command is a function of the parsed arguments returning an exit code: 0 done, 1 refused (or
some import rows refused, the others applied), 2 unusable input.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from .config import GatewayConfig, load_config
from .http.import_runner import ImportReport, import_subscribers
from .http.importing import ImportFileError, check_rows, csv_rows, json_rows
from .msisdn import InvalidMsisdn, normalize_msisdn
from .services import (
    BalanceService,
    LinkingService,
    NotSubscriber,
    ServiceSettings,
    SubscriberService,
    format_money,
)
from .services.money import currency_exponent
from .store.database import Database, StoreUnavailable

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
Subparsers = Any  # argparse's _SubParsersAction is private
T = TypeVar("T")


def add_operator_commands(subparsers: Subparsers) -> None:
    def with_config(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--config", type=Path, default=Path("config.toml"),
                            help="path to config.toml (default: ./config.toml)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        return parser

    subscribers = subparsers.add_parser("subscribers", help="load and look up subscribers")
    commands = subscribers.add_subparsers()
    load = with_config(commands.add_parser(
        "import", help="create or update subscribers from a CSV or JSON file",
        description="CSV needs a header msisdn,owner,region[,language,status,currency]; JSON "
                    "is an array of objects with those fields. Every refused row is listed "
                    "with the reason; the exit code is 1 when any row was refused."))
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=("csv", "json"),
                      help="default: from the file name's extension (.json, else CSV)")
    load.set_defaults(command=cmd_subscribers_import)

    show = with_config(commands.add_parser("show", help="a subscriber, balance, services"))
    show.add_argument("msisdn")
    show.set_defaults(command=cmd_subscribers_show)

    topup = with_config(subparsers.add_parser(
        "topup", help="add money to a balance",
        description="AMOUNT in the currency's units, e.g. 100 or 99.50 (or minor units with "
                    "--minor)"))
    topup.add_argument("msisdn")
    topup.add_argument("amount")
    topup.add_argument("--minor", action="store_true", help="AMOUNT is in minor units")
    topup.add_argument("--reference", help="payment reference for the audit log")
    topup.set_defaults(command=cmd_topup)


def cmd_subscribers_import(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return _usage(f"cannot read {args.file}: {exc}")
    as_json = (args.format or ("json" if args.file.suffix.lower() == ".json" else "csv"))
    try:
        rows = json_rows(json.loads(text)) if as_json == "json" else csv_rows(text)
    except (ImportFileError, ValueError) as exc:
        return _usage(f"{args.file}: {exc}")
    checked = check_rows(rows, config.country_code)

    async def run(db: Database) -> ImportReport:
        service = SubscriberService(db, _settings(config))
        return await import_subscribers(service, checked, channel=_channel())

    try:
        report = _with_store(config, run)
    except StoreFailed:
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print(f"created {report.created}, updated {report.updated}, "
              f"refused {len(report.refused)}")
        for refusal in report.refused:
            print(f"row {refusal.row} ({refusal.msisdn or '?'}): {refusal.reason}")
    return EXIT_REFUSED if report.refused else EXIT_OK


def cmd_subscribers_show(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    msisdn = _msisdn(args.msisdn, config)
    if msisdn is None:
        return EXIT_USAGE

    async def run(db: Database) -> dict[str, Any] | None:
        settings = _settings(config)
        subscriber = await SubscriberService(db, settings).get(msisdn)
        if subscriber is None:
            return None
        balance = await BalanceService(db, settings).get(msisdn)
        linked = await LinkingService(db, settings).group_numbers(msisdn)
        return {"msisdn": msisdn, "owner": subscriber.owner, "region": subscriber.region,
                "language": subscriber.language, "status": subscriber.status,
                "balance": None if balance is None else {
                    "amount_minor": balance.amount_minor, "currency": balance.currency,
                    "formatted": format_money(balance.amount_minor, balance.currency,
                                              subscriber.language)},
                "linked_numbers": [n for n in linked if n != msisdn]}

    try:
        found = _with_store(config, run)
    except StoreFailed:
        return EXIT_REFUSED
    if found is None:
        print(f"ussd-gateway: {msisdn} is not a subscriber", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    else:
        for key, value in found.items():
            if key == "balance" and value is not None:
                value = value["formatted"]
            elif key == "linked_numbers":
                value = ", ".join(value) or "-"
            print(f"{key}: {value}")
    return EXIT_OK


def cmd_topup(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    msisdn = _msisdn(args.msisdn, config)
    if msisdn is None:
        return EXIT_USAGE
    try:
        amount = Decimal(args.amount.replace(",", "."))
    except InvalidOperation:
        return _usage(f"amount {args.amount!r} is not a number")

    async def run(db: Database) -> dict[str, Any] | str | None:
        service = BalanceService(db, _settings(config))
        current = await service.get(msisdn)
        if current is None:
            return None
        # "100.50" means 10050 minor units of RUB, but 100 of JPY has no minor unit at all
        places = 0 if args.minor else currency_exponent(current.currency)
        minor = amount.scaleb(places)
        if minor <= 0 or minor != minor.to_integral_value():
            return (f"amount {args.amount!r} must be positive with at most {places} decimal "
                    f"places ({'minor units' if args.minor else current.currency})")
        result = await service.top_up(msisdn, int(minor), channel=_channel(),
                                      reference=args.reference)
        if isinstance(result, NotSubscriber):
            return None
        return {"msisdn": msisdn, "amount_minor": result.amount_minor,
                "currency": result.currency,
                "formatted": format_money(result.amount_minor, result.currency, "en")}

    try:
        balance = _with_store(config, run)
    except StoreFailed:
        return EXIT_REFUSED
    if isinstance(balance, str):
        return _usage(balance)
    if balance is None:
        print(f"ussd-gateway: {msisdn} is not a subscriber", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(balance) if args.json else f"{msisdn}: balance {balance['formatted']}")
    return EXIT_OK


def _settings(config: GatewayConfig) -> ServiceSettings:
    # These commands use only the subscriber defaults; passwords and SMS are not touched.
    return ServiceSettings(default_language=config.menus.default_language)


def _channel() -> str:
    # The audit log names who ran it, as the API names the operator token.
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"operator:cli:{user}"[:100]


def _msisdn(raw: str, config: GatewayConfig) -> str | None:
    try:
        return normalize_msisdn(raw, config.country_code)
    except InvalidMsisdn as exc:
        print(f"ussd-gateway: {exc}", file=sys.stderr)
        return None


def _usage(message: str) -> int:
    print(f"ussd-gateway: {message}", file=sys.stderr)
    return EXIT_USAGE


class StoreFailed(Exception):
    """The store could not be used; the message is already printed."""


def _with_store(config: GatewayConfig, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await Database.connect(config.store.url)
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except (StoreUnavailable, SQLAlchemyError, OSError) as exc:
        print(f"ussd-gateway: the store failed ({type(exc).__name__}); is it reachable and "
              "migrated (ussd-gateway db upgrade)?", file=sys.stderr)
        raise StoreFailed from None
