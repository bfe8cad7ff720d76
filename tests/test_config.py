"""config.toml: the shipped default loads; every bad value is refused naming its key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from ussd_gateway.cli import main
from ussd_gateway.config import ConfigError, load_config, parse_config
from ussd_gateway.gateway import service_settings

REPO = Path(__file__).resolve().parent.parent
ENV = {"USSD_GATEWAY_SECRET_KEY": "k" * 32}


def shipped() -> dict[str, Any]:
    return tomllib.loads((REPO / "config.toml").read_text())


def test_shipped_config_is_the_embedded_default(tmp_path: Path) -> None:
    config = parse_config(shipped(), base_dir=tmp_path, environ=ENV)
    assert config.store.url == f"sqlite+aiosqlite:///{tmp_path}/var/ussd-gateway.db"
    assert config.simulator.enabled
    assert [c.mode for c in config.connections] == ["esme"]
    assert config.connections[0].port == config.simulator.port
    assert config.http.host == "127.0.0.1"
    assert config.sessions.backend == "memory"
    assert config.secret_key == b"k" * 32


def test_a_dialect_profile_can_be_adjusted_per_connection(tmp_path: Path) -> None:
    raw = shipped()
    raw["smpp"]["connections"][0]["dialect"] = "umr"
    raw["smpp"]["connections"][0]["dialect_options"] = {
        "service_type": "USSD", "latin_data_coding": 1}
    raw["menus"]["gsm7_chars"] = 160  # 8-bit text: 160 characters fill a USSD string
    dialect = parse_config(raw, base_dir=tmp_path, environ=ENV).connections[0].dialect
    assert (dialect.name, dialect.session_id) == ("umr", "user_message_reference")
    assert (dialect.service_type, dialect.latin_data_coding) == ("USSD", 1)


def test_secret_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    first = parse_config(shipped(), base_dir=tmp_path, environ={})
    second = parse_config(shipped(), base_dir=tmp_path, environ={})
    key_file = tmp_path / "var" / "secret.key"
    assert first.secret_key == second.secret_key
    assert key_file.stat().st_mode & 0o077 == 0


def test_database_url_and_passwords_come_from_the_environment(tmp_path: Path) -> None:
    raw = shipped()
    raw["smpp"]["connections"][0].pop("password")
    raw["smpp"]["connections"][0]["password_env"] = "SMPP_PW"
    env = {**ENV, "USSD_GATEWAY_DATABASE_URL": "postgresql+asyncpg://db/ussd", "SMPP_PW": "s3cret"}
    config = parse_config(raw, base_dir=tmp_path, environ=env)
    assert config.store.url == "postgresql+asyncpg://db/ussd"
    assert config.connections[0].password == "s3cret"
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["smpp"]["connections"][0].update(port=70000),
         "smpp.connections[0].port: must be at most 65535"),
        (lambda c: c["smpp"]["connections"][0].update(port="2775"),
         "smpp.connections[0].port: expected an integer"),
        (lambda c: c["smpp"]["connections"][0].update(mode="client"),
         "smpp.connections[0].mode: 'client' is not one of"),
        (lambda c: c["smpp"]["connections"][0].update(dialect="nokia"),
         "smpp.connections[0].dialect: 'nokia' is not one of"),
        (lambda c: c["smpp"]["connections"][0].update(dialect_options={"end_signal": "bit"}),
         "smpp.connections[0].dialect_options: dialect 'generic': invalid end_signal"),
        (lambda c: c["smpp"]["connections"][0].update(dialect_options={"colour": 1}),
         "smpp.connections[0].dialect_options.colour: unknown key"),
        (lambda c: c["smpp"]["connections"][0].update(password="far-too-long"),
         "smpp.connections[0].password: longer than 8 characters"),
        (lambda c: c["smpp"]["connections"][0].update(colour="blue"),
         "smpp.connections[0].colour: unknown key"),
        (lambda c: c["sessions"].update(backend="memcached"),
         "sessions.backend: 'memcached' is not one of"),
        (lambda c: c["sessions"].update(timeout_seconds=0),
         "sessions.timeout_seconds: must be at least 1"),
        (lambda c: c["gateway"].update(country_code="+7"),
         "gateway.country_code: expected 1-3 digits"),
        (lambda c: c["store"].update(url="mysql://x"),
         "store.url: 'mysql://x' is not a sqlite+aiosqlite"),
        (lambda c: c["sms"].update(connection="nowhere"),
         "sms.connection: 'nowhere' is not the name"),
        (lambda c: (c["smpp"]["connections"].append(
            {"name": "in", "mode": "smsc", "listen": "127.0.0.1:2775", "system_id": "c",
             "password": "secret"}), c["sms"].update(connection="in")),
         "sms.connection: 'in' is an smsc connection"),
        (lambda c: c["passwords"].update(alphabet="347adefhjmrtACDEFHJKLMNPRTUVWXY0O"),
         "passwords.alphabet: '347adefhjmrtACDEFHJKLMNPRTUVWXY0O' '0' and 'O' look alike"),
        (lambda c: c["passwords"].update(alphabet="abcdefghjk" + "a"),
         "passwords.alphabet: 'abcdefghjka' has a character more than once"),
        (lambda c: c["passwords"].update(alphabet="abcdefgh"),
         "passwords.alphabet: 'abcdefgh' needs at least 10 distinct characters"),
        (lambda c: c["passwords"].update(alphabet="абвгдежзий"),
         "passwords.alphabet: 'абвгдежзий' may hold only printable ASCII"),
        (lambda c: c["smpp"]["connections"][0].update(password_env="NOT_SET_ANYWHERE",
                                                      password=""),
         "smpp.connections[0].password_env: the environment variable NOT_SET_ANYWHERE is not "
         "set"),
        (lambda c: c["smpp"]["connections"].append(
            {"name": "in", "mode": "smsc", "listen": "127.0.0.1:2775", "system_id": "c"}),
         "smpp.connections[1].password: must not be empty in the smsc role"),
        (lambda c: c["smpp"]["connections"][0].update(reconnect_min=60, reconnect_max=30),
         "smpp.connections[0].reconnect_min: must not be above reconnect_max"),
        (lambda c: c["smpp"]["connections"][0].update(allow=["10.0.0.0/8"]),
         "smpp.connections[0].allow: applies to smsc connections only (this one is esme)"),
        (lambda c: c["smpp"]["connections"].append(
            {"name": "in", "mode": "smsc", "listen": "127.0.0.1:2775", "system_id": "c",
             "password": "secret", "bind_mode": "transceiver"}),
         "smpp.connections[1].bind_mode: applies to esme connections only (this one is smsc)"),
        (lambda c: c["smpp"]["connections"][0].update(
            dialect_options={"latin_data_coding": 3}),
         "menus.gsm7_chars: 182 characters do not fit one USSD string on connection 'ussdc'"),
        (lambda c: c["smpp"]["connections"][0].update(system_type="a-very-long-type"),
         "smpp.connections[0].system_type: longer than 12 characters"),
        (lambda c: c["linking"].update(weekend=[0, 1, 2, 3, 4, 5, 6]),
         "linking.weekend: every day cannot be a weekend day"),
        (lambda c: c["menus"].update(back_key="00"),
         "menus.back_key: must differ from menus.more_key"),
        (lambda c: c["menus"].update(home_key="*"),
         "menus.home_key: must differ"),
        (lambda c: c["http"].update(enabled="yes"),
         "http.enabled: expected true or false"),
        (lambda c: c.update(extra={"a": 1}), "extra: unknown key"),
        (lambda c: c["linking"].update(holidays=["2027-13-01"]),
         "linking.holidays[0]: '2027-13-01' is not a date"),
        (lambda c: c["linking"].update(weekend=[6, 7]),
         "linking.weekend[1]: must be at most 6"),
        (lambda c: c["smpp"]["connections"].append(
            {"name": "in", "mode": "smsc", "listen": "127.0.0.1", "system_id": "c",
             "password": "secret"}),
         "smpp.connections[1].listen: expected HOST:PORT"),
        (lambda c: c["smpp"]["connections"].append(
            {"name": "in", "mode": "smsc", "listen": "0.0.0.0:2775", "system_id": "c",
             "password": "secret", "allow": ["10.0.0.300/8"]}),
         "smpp.connections[1].allow[0]: '10.0.0.300/8' is not an IP network"),
        (lambda c: c["http"].update(trusted_proxies=["10.0.0.0/8", "proxy.example"]),
         "http.trusted_proxies[1]: 'proxy.example' is not an IP network"),
        (lambda c: c["http"].update(trusted_proxies=["::1", 3]),
         "http.trusted_proxies[1]: expected a string, got 3"),
        (lambda c: c["http"].update(trusted_proxies="10.0.0.0/8"),
         "http.trusted_proxies: expected a list of strings"),
        (lambda c: c["http"].update(token_ttl_seconds=0),
         "http.token_ttl_seconds: must be at least 1, got 0"),
        (lambda c: c["http"].update(token_ttl_seconds=-1800),
         "http.token_ttl_seconds: must be at least 1, got -1800"),
        (lambda c: c["http"].update(token_ttl_seconds="30m"),
         "http.token_ttl_seconds: expected an integer"),
        (lambda c: c["http"].update(token_ttl_seconds=86_401),
         "http.token_ttl_seconds: must be at most 86400, got 86401"),
    ],
)
def test_bad_value_is_refused_naming_the_key(tmp_path: Path, change: Any, message: str) -> None:
    raw = shipped()
    change(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw, base_dir=tmp_path, environ=ENV)
    assert str(info.value).startswith(message)


def test_trusted_proxies_take_addresses_and_networks(tmp_path: Path) -> None:
    assert parse_config(shipped(), base_dir=tmp_path, environ=ENV).http.trusted_proxies == ()
    raw = shipped()
    raw["http"]["trusted_proxies"] = ["10.1.2.3", "192.168.0.0/16", "fd00::/8"]
    trusted = parse_config(raw, base_dir=tmp_path, environ=ENV).http.trusted_proxies
    assert [str(network) for network in trusted] == ["10.1.2.3/32", "192.168.0.0/16", "fd00::/8"]


def test_login_tokens_last_half_an_hour_unless_configured(tmp_path: Path) -> None:
    assert parse_config(shipped(), base_dir=tmp_path, environ=ENV).http.token_ttl_seconds == 1800
    raw = shipped()
    raw["http"]["token_ttl_seconds"] = 600
    assert parse_config(raw, base_dir=tmp_path, environ=ENV).http.token_ttl_seconds == 600


def test_cli_refuses_a_bad_config_with_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text((REPO / "config.toml").read_text().replace("port = 8080", "port = -1"))
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ussd-gateway: config error: http.port: must be at least 0, got -1"


def test_cli_names_a_bad_trusted_proxy(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text((REPO / "config.toml").read_text().replace(
        "trusted_proxies = []", 'trusted_proxies = ["10.0.0.0/8", "10.0.0.0/33"]'))
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ussd-gateway: config error: http.trusted_proxies[1]: "
                   "'10.0.0.0/33' is not an IP network")


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_the_password_alphabet_reaches_the_password_service(tmp_path: Path) -> None:
    raw = shipped()
    raw["passwords"]["alphabet"] = "0123456789"  # digits only: nothing to mistake them for
    config = parse_config(raw, base_dir=tmp_path, environ=ENV)
    assert service_settings(config).passwords.alphabet == "0123456789"


def test_an_8_bit_latin_coding_fits_with_160_characters_a_screen(tmp_path: Path) -> None:
    raw = shipped()
    raw["smpp"]["connections"][0]["dialect_options"] = {"latin_data_coding": 3}
    raw["menus"]["gsm7_chars"] = 160
    assert parse_config(raw, base_dir=tmp_path, environ=ENV).menus.gsm7_chars == 160


def test_a_shared_store_needs_the_shared_secret_key(tmp_path: Path) -> None:
    raw = shipped()
    raw["store"]["url"] = "postgresql+asyncpg://ussd@db.internal/ussd"
    with pytest.raises(ConfigError, match=r"every instance needs the same secret key"):
        parse_config(raw, base_dir=tmp_path, environ={})
    assert not (tmp_path / "var").exists()  # no key of its own made up
    with_key = parse_config(raw, base_dir=tmp_path, environ=ENV)
    assert with_key.secret_key == ENV["USSD_GATEWAY_SECRET_KEY"].encode()
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text("k" * 40)  # or a key file put in place
    assert parse_config(raw, base_dir=tmp_path, environ={}).secret_key == b"k" * 40


def test_an_inline_secret_next_to_its_variable_is_the_fallback(tmp_path: Path) -> None:
    raw = shipped()
    raw["smpp"]["connections"][0].update(password="inline", password_env="SMPP_PW")
    with_variable = parse_config(raw, base_dir=tmp_path, environ={**ENV, "SMPP_PW": "fromenv"})
    without = parse_config(raw, base_dir=tmp_path, environ=ENV)
    assert (with_variable.connections[0].password, without.connections[0].password) == (
        "fromenv", "inline")


def test_a_short_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret.key").write_text("short")
    with pytest.raises(ConfigError, match=r"security.secret_key_file: the key in .*secret.key "
                                          r"is shorter than 16 bytes"):
        parse_config(shipped(), base_dir=tmp_path, environ={})
