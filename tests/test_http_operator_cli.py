"""The operator CLI twins against a real SQLite store, through argparse as a script runs them."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from ussd_gateway.operator_cli import add_operator_commands
from ussd_gateway.services import seed_demo
from ussd_gateway.store.database import Database


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ussd-gateway")
    add_operator_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    result: int = args.command(args)
    return result


@pytest.fixture
def config(tmp_path: Path) -> Path:
    store = tmp_path / "store.db"

    async def prepare() -> None:
        db = await Database.connect(f"sqlite+aiosqlite:///{store}")
        await db.upgrade()
        await seed_demo(db)
        await db.close()

    asyncio.run(prepare())
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{store}"\nauto_upgrade = false\n',
                    encoding="utf-8")
    return path


def test_import_applies_good_rows_and_lists_refused_ones(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "batch.csv"
    data.write_text("msisdn,owner,region\n+79165550001,Petr,Omsk\nabc,Petr,Omsk\n",
                    encoding="utf-8")
    assert _run(["subscribers", "import", str(data), "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "created 1, updated 0, refused 1" in out
    assert "row 3 (abc):" in out

    again = tmp_path / "batch.json"
    again.write_text(json.dumps([{"msisdn": "79165550001", "owner": "Petr", "region": "Tomsk"}]),
                     encoding="utf-8")
    assert _run(["subscribers", "import", str(again), "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"created": 0, "updated": 1, "refused": []}


def test_show_and_top_up(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["topup", "8 916 000-00-01", "100.50", "--config", str(config)]) == 0
    assert "79160000001: balance 251.25 RUB" in capsys.readouterr().out
    assert _run(["subscribers", "show", "79160000001", "--config", str(config), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["balance"]["amount_minor"] == 25_125
    assert shown["owner"] == "Ivan Petrov"


def test_refusals_and_bad_input_have_their_exit_codes(
        config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["subscribers", "show", "79169999999", "--config", str(config)]) == 1
    assert "not a subscriber" in capsys.readouterr().err
    assert _run(["topup", "79169999999", "5", "--config", str(config)]) == 1
    assert _run(["topup", "79160000001", "0.001", "--config", str(config)]) == 2
    assert _run(["topup", "79160000001", "-5", "--config", str(config)]) == 2
    assert _run(["topup", "not-a-number", "5", "--config", str(config)]) == 2
    assert "invalid phone number" in capsys.readouterr().err


def test_an_unmigrated_store_is_explained(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{tmp_path / "empty.db"}"\n',
                    encoding="utf-8")
    assert _run(["subscribers", "show", "79160000001", "--config", str(path)]) == 1
    assert "db upgrade" in capsys.readouterr().err


def test_topup_reads_the_amount_in_the_accounts_currency(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    yen = tmp_path / "yen.json"
    yen.write_text(json.dumps([{"msisdn": "79165550002", "owner": "Aiko", "region": "Omsk",
                                "currency": "JPY"}]), encoding="utf-8")
    assert _run(["subscribers", "import", str(yen), "--config", str(config)]) == 0
    capsys.readouterr()
    assert _run(["topup", "79165550002", "100", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["amount_minor"] == 100  # yen have no minor unit
    assert _run(["topup", "79165550002", "100.5", "--config", str(config)]) == 2
    assert "at most 0 decimal places (JPY)" in capsys.readouterr().err
