"""The README's promise, as a tester would try it: `ussd-gateway run` in one process on the
embedded default, `ussd-gateway dial` from another, over real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "ussd_gateway.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(directory: Path) -> Path:
    sim, control, http = free_port(), free_port(), free_port()
    text = (REPO / "config.toml").read_text()
    text = text.replace("port = 2775", f"port = {sim}")
    text = text.replace("control_port = 2776", f"control_port = {control}")
    text = text.replace("port = 8080", f"port = {http}")
    text = text.replace('paths = ["menus"]', f'paths = ["{REPO / "menus"}"]')
    path = directory / "config.toml"
    path.write_text(text)
    return path


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Path]:
    config = write_config(tmp_path)
    log = (tmp_path / "gateway.log").open("w")
    process = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=log,
                               stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while "bound to" not in (tmp_path / "gateway.log").read_text():
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            assert time.monotonic() < deadline, "the gateway did not bind in time"
            time.sleep(0.1)
        yield config
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        log.close()
        output = (tmp_path / "gateway.log").read_text()
        assert code == 0, output
        assert "Traceback" not in output, output


def test_dial_through_the_running_gateway(gateway: Path) -> None:
    password = cli("dial", "79160000001", "*111*25#", "--json", "--config", str(gateway))
    assert password.returncode == 0, password.stderr
    answer = json.loads(password.stdout)
    assert answer["session_ended"] is True
    assert len(answer["screens"]) == 1
    assert len(answer["sms"]) == 1
    assert answer["sms"][0]["from"] == "Operator"

    balance = cli("dial", "79160000001", "*100#", "--config", str(gateway))
    assert balance.returncode == 0
    assert "150,75" in balance.stdout

    walk = cli("dial", "79160000003", "*111#", "--reply", "828", "--reply", "1", "--json",
               "--config", str(gateway))
    direct = cli("dial", "79160000001", "*111*828*1#", "--json", "--config", str(gateway))
    assert json.loads(walk.stdout)["screens"][-1] == json.loads(direct.stdout)["screens"][-1]


def test_demo_dials_the_three_codes(gateway: Path) -> None:
    result = cli("demo", "--config", str(gateway))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("--- session ended ---") == 3
    assert "--- SMS from Operator ---" in result.stdout


def test_a_restart_keeps_the_store(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for _ in range(2):
        log = tmp_path / "gateway.log"
        with log.open("w") as out:
            process = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=out,
                                       stderr=subprocess.STDOUT, cwd=REPO)
            deadline = time.monotonic() + 60
            while "bound to" not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            result = cli("dial", "79160000003", "*111*828*1#", "--json", "--config", str(config))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        screens = json.loads(result.stdout)["screens"]
    # the second run remembers the first run's change
    assert "уже" in screens[-1].lower() or "already" in screens[-1].lower()


def test_sighup_reloads_menus_and_refuses_a_broken_file(tmp_path: Path) -> None:
    menus = tmp_path / "menus"
    shutil.copytree(REPO / "menus", menus)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(f'paths = ["{REPO / "menus"}"]',
                                                 f'paths = ["{menus}"]'))
    log = tmp_path / "gateway.log"
    with log.open("w") as out:
        process = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_for(log, "bound to")
        balance = menus / "balance.toml"
        balance.write_text(balance.read_text().replace("Ваш баланс", "Остаток на счёте"))
        process.send_signal(signal.SIGHUP)
        wait_for(log, "menus reloaded")
        shown = cli("dial", "79160000001", "*100#", "--config", str(config))
        assert "Остаток на счёте" in shown.stdout

        balance.write_text(balance.read_text() + "\n[screens.broken\n")
        process.send_signal(signal.SIGHUP)
        wait_for(log, "menu reload refused")
        still = cli("dial", "79160000001", "*100#", "--config", str(config))
        assert "Остаток на счёте" in still.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def wait_for(log: Path, needle: str) -> None:
    deadline = time.monotonic() + 60
    while needle not in log.read_text():
        assert time.monotonic() < deadline, f"no {needle!r} in: {log.read_text()}"
        time.sleep(0.1)


def test_dial_without_a_gateway_fails_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = cli("dial", "79160000001", "*100#", "--timeout", "2", "--config", str(config))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ussd-gateway dial: ")
    assert not (tmp_path / "var").exists(), "dialling writes nothing (no secret key file)"


def test_menus_check_passes_on_the_shipped_menus(tmp_path: Path) -> None:
    result = cli("menus", "check", "--config", str(write_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "menus OK"
    assert not (tmp_path / "var").exists(), "checking menus writes nothing"


def test_menus_check_names_file_screen_and_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    shipped = (REPO / "menus" / "balance.toml").read_text()
    broken.write_text(shipped.replace("action = \"balance\"", "action = \"no.such.action\""))
    result = cli("menus", "check", str(broken), "--config", str(tmp_path / "none.toml"))
    assert result.returncode == 1
    assert "broken.toml" in result.stderr and "no.such.action" in result.stderr


def test_menus_check_names_a_misspelled_outcome_and_placeholder(tmp_path: Path) -> None:
    edited = tmp_path / "selfcare.toml"
    shipped = (REPO / "menus" / "selfcare.toml").read_text()
    edited.write_text(shipped.replace("outcomes.rate_limited", "outcomes.rate_limted")
                      .replace("Valid {expires_minutes} min", "Valid {expires_minuts} min"))
    result = cli("menus", "check", str(edited), "--config", str(tmp_path / "none.toml"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "2 problem(s) found"
    assert f"{edited}: screen 'password': outcome 'rate_limted': action 'password.issue' " \
        "never returns it" in lines[0] and "did you mean 'rate_limited'?" in lines[0]
    assert lines[1].startswith(f"{edited}: screen 'password_sent': {{expires_minuts}} in text "
                               "(en) is filled by nothing on the way here")


def test_an_unreachable_redis_stops_the_start_in_one_line_without_its_password(
        tmp_path: Path) -> None:
    config = write_config(tmp_path)
    text = config.read_text()
    text = text.replace('backend = "memory"', 'backend = "redis"')
    text = text.replace('redis_url = "redis://127.0.0.1:6379/0"',
                        f'redis_url = "redis://ussd:hunter2@127.0.0.1:{free_port()}/0"')
    config.write_text(text)
    result = cli("run", "--config", str(config))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert ("cannot start: sessions.redis_url: cannot reach Redis at "
            "redis://ussd:***@127.0.0.1:") in result.stderr
