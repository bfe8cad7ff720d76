"""``config.toml`` -> frozen, validated configuration.

Every error is a :class:`ConfigError` whose message starts with the dotted key it is about.
Secrets (SMPP passwords, the store's secret key, operator API tokens) and the database URL may
come from the environment instead of the file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from smpp.dialect import PROFILES, Dialect

from .config_reader import ConfigError, Table
from .security.passwords import LOOK_ALIKE_FREE_ALPHABET, alphabet_problem

__all__ = ["ConfigError", "GatewayConfig", "load_config", "parse_config"]

DATABASE_URL_ENV = "USSD_GATEWAY_DATABASE_URL"
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class StoreConfig:
    url: str
    auto_upgrade: bool = True
    demo_data: bool = False


@dataclass(frozen=True)
class SessionsConfig:
    backend: Literal["memory", "redis"] = "memory"
    timeout_seconds: float = 120.0
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "ussd-gateway:"
    resume_grace_seconds: float = 0.0


@dataclass(frozen=True)
class MenusConfig:
    paths: tuple[Path, ...]
    default_language: str = "ru"
    gsm7_chars: int = 182
    ucs2_chars: int = 80
    more_key: str = "00"
    back_key: str = "*"
    home_key: str = "**"
    max_retries: int = 3


@dataclass(frozen=True)
class AdminToken:
    name: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    admin_tokens: tuple[AdminToken, ...] = ()
    max_body_bytes: int = 1024 * 1024
    # Reverse proxies / load balancers allowed to name the client in X-Forwarded-For.
    trusted_proxies: tuple[IpNetwork, ...] = ()
    # How long a personal-account login token lasts (a new password ends it sooner).
    token_ttl_seconds: int = 30 * 60


@dataclass(frozen=True)
class SmppConnectionConfig:
    name: str
    mode: Literal["esme", "smsc"]
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    dialect: Dialect = PROFILES["generic"]
    system_type: str = ""
    address_range: str = ""
    bind_mode: Literal["transceiver", "transmitter_receiver"] = "transceiver"
    allow: tuple[IpNetwork, ...] = ()
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    window: int = 50
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    max_pdu: int = 65536 + 16


@dataclass(frozen=True)
class SimulatorConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "gateway"
    password: str = field(default="", repr=False)
    dialect: Dialect = PROFILES["generic"]
    control_host: str = "127.0.0.1"
    control_port: int = 2776


@dataclass(frozen=True)
class SmsConfig:
    connection: str | None = None
    source: str = "Operator"
    batch_size: int = 20
    send_timeout_seconds: float = 20.0
    lease_seconds: float = 60.0
    retry_initial_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    poll_interval_seconds: float = 5.0
    max_age_hours: float = 24.0


@dataclass(frozen=True)
class PasswordConfig:
    length: int = 8
    validity_minutes: int = 60
    rate_limit_count: int = 3
    rate_limit_window_minutes: int = 60
    login_max_failures: int = 5
    lockout_minutes: int = 15
    alphabet: str = LOOK_ALIKE_FREE_ALPHABET


@dataclass(frozen=True)
class LinkingConfig:
    review_working_days: int = 2
    holidays: tuple[date, ...] = ()
    working_weekends: tuple[date, ...] = ()
    weekend: tuple[int, ...] = (5, 6)
    utc_offset_hours: float = 3.0
    auto_approval_minutes: float = 5.0


@dataclass(frozen=True)
class GatewayConfig:
    base_dir: Path
    country_code: str
    operator_name: str
    log_level: str
    secret_key: bytes = field(repr=False)
    store: StoreConfig
    sessions: SessionsConfig
    menus: MenusConfig
    http: HttpConfig
    connections: tuple[SmppConnectionConfig, ...]
    simulator: SimulatorConfig
    sms: SmsConfig
    passwords: PasswordConfig
    linking: LinkingConfig = field(default_factory=LinkingConfig)


def load_config(path: Path | str, environ: Mapping[str, str] | None = None, *,
                create_secret_key: bool = True) -> GatewayConfig:
    """The config at ``path``. ``create_secret_key=False`` (commands that only dial or read
    menus) never writes the key file: a missing key is then a throwaway one."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(raw, base_dir=path.resolve().parent, environ=environ,
                        create_secret_key=create_secret_key)


def parse_config(raw: Mapping[str, object], *, base_dir: Path,
                 environ: Mapping[str, str] | None = None,
                 create_secret_key: bool = True) -> GatewayConfig:
    env = os.environ if environ is None else environ
    root = Table(raw)
    gateway = root.table("gateway")
    country_code = gateway.text("country_code", "7")
    if not country_code.isdigit() or not 1 <= len(country_code) <= 3:
        raise ConfigError(f"gateway.country_code: expected 1-3 digits, got {country_code!r}")
    config = GatewayConfig(
        base_dir=base_dir,
        country_code=country_code,
        operator_name=gateway.text("operator_name", "Operator"),
        log_level=gateway.text("log_level", "INFO",
                               choices=("DEBUG", "INFO", "WARNING", "ERROR")),
        store=(store := _store(root.table("store"), base_dir, env)),
        secret_key=_secret_key(root.table("security"), base_dir, env, create_secret_key,
                               shared_store=store.url.startswith("postgresql")),
        sessions=_sessions(root.table("sessions")),
        menus=_menus(root.table("menus"), base_dir),
        http=_http(root.table("http"), env),
        connections=_connections(root.table("smpp"), env),
        simulator=_simulator(root.table("simulator"), env),
        sms=_sms(root.table("sms")),
        passwords=_passwords(root.table("passwords")),
        linking=_linking(root.table("linking")),
    )
    gateway.reject_unknown()
    modes = {c.name: c.mode for c in config.connections}
    if config.sms.connection is not None and config.sms.connection not in modes:
        raise ConfigError(
            f"sms.connection: {config.sms.connection!r} is not the name of any "
            "smpp.connections entry"
        )
    for connection in config.connections:
        # One USSD string is 160 octets: 182 characters only when packed as GSM 7-bit.
        eight_bit = connection.dialect.latin_data_coding != 0
        if eight_bit and config.menus.gsm7_chars > 160:
            raise ConfigError(
                f"menus.gsm7_chars: {config.menus.gsm7_chars} characters do not fit one USSD "
                f"string on connection {connection.name!r}, whose Latin text goes 8 bits a "
                "character (latin_data_coding "
                f"{connection.dialect.latin_data_coding}): at most 160")
    if config.sms.connection is not None and modes[config.sms.connection] != "esme":
        raise ConfigError(
            f"sms.connection: {config.sms.connection!r} is an smsc connection (the USSD centre "
            "binds to the gateway); SMS go out over an esme connection, one the gateway binds "
            "out to the SMSC"
        )
    root.reject_unknown()
    return config


def _secret_key(table: Table, base_dir: Path, env: Mapping[str, str], create: bool, *,
                shared_store: bool) -> bytes:
    env_name = table.text("secret_key_env", "USSD_GATEWAY_SECRET_KEY")
    key_file = table.text("secret_key_file", "var/secret.key")
    table.reject_unknown()
    if env.get(env_name):
        key = env[env_name].encode()
    elif create and shared_store and not (base_dir / key_file).exists():
        # Each instance would make up its own key, and SMS one instance encrypted would not
        # decrypt on another (lost), nor its temporary passwords verify.
        raise ConfigError(
            f"security.secret_key_env: with a PostgreSQL store every instance needs the same "
            f"secret key: set ${env_name}, or put the key in {base_dir / key_file} "
            "(security.secret_key_file); this instance will not make up its own")
    elif create or (base_dir / key_file).exists():
        key = _read_or_create_key(base_dir / key_file)
    else:
        key = os.urandom(32).hex().encode()
    if len(key) < 16:
        where = (f"security.secret_key_env: the key in ${env_name}" if env.get(env_name)
                 else f"security.secret_key_file: the key in {base_dir / key_file}")
        raise ConfigError(f"{where} is shorter than 16 bytes")
    return key


def _read_or_create_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32).hex().encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _store(table: Table, base_dir: Path, env: Mapping[str, str]) -> StoreConfig:
    url = table.text("url", "sqlite+aiosqlite:///var/ussd-gateway.db")
    url = env.get(DATABASE_URL_ENV) or url
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        db_path = Path(url[len(prefix):])
        if not db_path.is_absolute():
            url = prefix + str(base_dir / db_path)
    elif not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise ConfigError(
            f"store.url: {url!r} is not a sqlite+aiosqlite:/// or postgresql+asyncpg:// URL"
        )
    result = StoreConfig(
        url=url,
        auto_upgrade=table.flag("auto_upgrade", True),
        demo_data=table.flag("demo_data", False),
    )
    table.reject_unknown()
    return result


def _sessions(table: Table) -> SessionsConfig:
    result = SessionsConfig(
        backend=table.text("backend", "memory", choices=("memory", "redis")),
        timeout_seconds=table.number("timeout_seconds", 120.0, minimum=1, maximum=3600),
        redis_url=table.text("redis_url", "redis://127.0.0.1:6379/0"),
        key_prefix=table.text("key_prefix", "ussd-gateway:"),
        resume_grace_seconds=table.number("resume_grace_seconds", 0.0, minimum=0, maximum=3600),
    )
    table.reject_unknown()
    return result


def _menus(table: Table, base_dir: Path) -> MenusConfig:
    paths = tuple(base_dir / p for p in table.texts("paths", ["menus"]))
    result = MenusConfig(
        paths=paths,
        default_language=table.text("default_language", "ru", choices=("ru", "en")),
        gsm7_chars=table.integer("gsm7_chars", 182, minimum=40, maximum=182),
        ucs2_chars=table.integer("ucs2_chars", 80, minimum=20, maximum=80),
        more_key=table.text("more_key", "00", allow_empty=False),
        back_key=table.text("back_key", "*", allow_empty=False),
        home_key=table.text("home_key", "**", allow_empty=False),
        max_retries=table.integer("max_retries", 3, minimum=1, maximum=10),
    )
    if result.back_key == result.more_key:
        raise ConfigError("menus.back_key: must differ from menus.more_key")
    if result.home_key in (result.more_key, result.back_key):
        raise ConfigError("menus.home_key: must differ from menus.more_key and menus.back_key")
    for name in ("more_key", "back_key", "home_key"):
        if " " in getattr(result, name):
            raise ConfigError(f"menus.{name}: must not contain spaces")
    table.reject_unknown()
    return result


# A stolen token is good until it expires or the password changes: a day at most.
MAX_TOKEN_TTL_SECONDS = 24 * 60 * 60


def _http(table: Table, env: Mapping[str, str]) -> HttpConfig:
    tokens = []
    for entry in table.tables("admin_tokens"):
        name = entry.text("name", allow_empty=False)
        token = entry.secret("token", env)
        if not token:
            raise ConfigError(f"{entry.key('token')}: missing (give token or token_env)")
        if len(token) < 16:
            raise ConfigError(f"{entry.key('token')}: shorter than 16 characters")
        entry.reject_unknown()
        tokens.append(AdminToken(name=name, token=token))
    result = HttpConfig(
        enabled=table.flag("enabled", True),
        host=table.text("host", "127.0.0.1"),
        port=table.integer("port", 8080, minimum=0, maximum=65535),
        admin_tokens=tuple(tokens),
        max_body_bytes=table.integer("max_body_bytes", 1024 * 1024, minimum=1024),
        trusted_proxies=_networks(table, "trusted_proxies", []),
        token_ttl_seconds=table.integer("token_ttl_seconds", 30 * 60, minimum=1,
                                        maximum=MAX_TOKEN_TTL_SECONDS),
    )
    table.reject_unknown()
    return result


DIALECT_FIELDS = {
    "session_id": str, "end_signal": str, "code_field": str, "request_command": str,
    "service_type": str, "first_request_without_op": bool, "latin_data_coding": int,
    "cyrillic_data_coding": int, "source_ton": int, "source_npi": int,
}


def _dialect(table: Table) -> Dialect:
    """A shipped profile by name, with any field changed in a ``dialect_options`` table."""
    name = str(table.text("dialect", "generic", choices=sorted(PROFILES)))
    options = table.table("dialect_options")
    changes: dict[str, object] = {}
    for key, kind in DIALECT_FIELDS.items():
        if options.has(key):
            if kind is str:
                changes[key] = options.text(key)
            elif kind is bool:
                changes[key] = options.flag(key)
            else:
                changes[key] = options.integer(key, minimum=0, maximum=255)
    options.reject_unknown()
    if not changes:
        return PROFILES[name]
    try:
        return dataclasses.replace(PROFILES[name], **changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"{table.key('dialect_options')}: {exc}") from None


def _connections(table: Table, env: Mapping[str, str]) -> tuple[SmppConnectionConfig, ...]:
    result = []
    seen: set[str] = set()
    for entry in table.tables("connections"):
        name = entry.text("name", allow_empty=False)
        if name in seen:
            raise ConfigError(f"{entry.key('name')}: duplicate connection name {name!r}")
        seen.add(name)
        mode = entry.text("mode", choices=("esme", "smsc"))
        if mode == "esme":
            host = entry.text("host", allow_empty=False)
            port = entry.integer("port", minimum=1, maximum=65535)
        else:
            host, port = _listen(entry)
        system_id = entry.text("system_id", allow_empty=False)
        if len(system_id) > 15:
            raise ConfigError(f"{entry.key('system_id')}: longer than 15 characters (SMPP limit)")
        password = entry.secret("password", env)
        if len(password) > 8:
            raise ConfigError(f"{entry.key('password')}: longer than 8 characters (SMPP limit)")
        if not (system_id.isascii() and password.isascii()):
            raise ConfigError(f"{entry.key('system_id')}: system_id and password must be ASCII "
                              "(SMPP C-Octet Strings)")
        if mode == "smsc" and not password:
            raise ConfigError(f"{entry.key('password')}: must not be empty in the smsc role "
                              "(any USSD centre could bind); set password or password_env")
        other_mode = "smsc" if mode == "esme" else "esme"
        for key in _ONLY_IN_MODE[other_mode]:
            if entry.has(key):
                raise ConfigError(f"{entry.key(key)}: applies to {other_mode} connections "
                                  f"only (this one is {mode})")
        allow = _networks(entry, "allow", ["127.0.0.0/8", "::1/128"])
        result.append(SmppConnectionConfig(
            name=name, mode=mode, host=host, port=port, system_id=system_id, password=password,
            dialect=_dialect(entry),
            system_type=_at_most(entry, "system_type", 12),
            address_range=_at_most(entry, "address_range", 40),
            bind_mode=entry.text("bind_mode", "transceiver",
                                 choices=("transceiver", "transmitter_receiver")),
            allow=allow,
            enquire_link_interval=entry.number("enquire_link_interval", 30.0, minimum=0.1),
            response_timeout=entry.number("response_timeout", 10.0, minimum=0.1),
            window=entry.integer("window", 50, minimum=1, maximum=1000),
            reconnect_min=entry.number("reconnect_min", 0.5, minimum=0.01),
            reconnect_max=entry.number("reconnect_max", 30.0, minimum=0.01),
            max_pdu=entry.integer("max_pdu", 65536 + 16, minimum=512, maximum=1 << 20),
        ))
        if result[-1].reconnect_min > result[-1].reconnect_max:
            raise ConfigError(f"{entry.key('reconnect_min')}: must not be above reconnect_max")
        entry.reject_unknown()
    table.reject_unknown()
    return tuple(result)


def _at_most(entry: Table, name: str, limit: int) -> str:
    value: str = entry.text(name, "")
    if len(value) > limit:
        raise ConfigError(f"{entry.key(name)}: longer than {limit} characters (SMPP limit)")
    return value


# Keys that mean something in one mode only: given in the other, they are a mistake.
_ONLY_IN_MODE: dict[str, tuple[str, ...]] = {
    "esme": ("host", "port", "bind_mode", "system_type", "address_range", "reconnect_min",
             "reconnect_max"),
    "smsc": ("listen", "allow"),
}


def _listen(entry: Table) -> tuple[str, int]:
    listen = entry.text("listen", allow_empty=False)
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not host or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{entry.key('listen')}: expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port_text)


def _networks(table: Table, name: str, default: list[str]) -> tuple[IpNetwork, ...]:
    return tuple(_network(f"{table.key(name)}[{index}]", text)
                 for index, text in enumerate(table.texts(name, default)))


def _network(key: str, text: str) -> IpNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not an IP network") from None


def _simulator(table: Table, env: Mapping[str, str]) -> SimulatorConfig:
    result = SimulatorConfig(
        enabled=table.flag("enabled", False),
        host=table.text("host", "127.0.0.1"),
        port=table.integer("port", 2775, minimum=0, maximum=65535),
        system_id=table.text("system_id", "gateway"),
        password=table.secret("password", env),
        dialect=_dialect(table),
        control_host=table.text("control_host", "127.0.0.1"),
        control_port=table.integer("control_port", 2776, minimum=0, maximum=65535),
    )
    table.reject_unknown()
    return result


def _sms(table: Table) -> SmsConfig:
    result = SmsConfig(
        connection=table.text("connection", "") or None,
        source=table.text("source", "Operator"),
        batch_size=table.integer("batch_size", 20, minimum=1, maximum=1000),
        send_timeout_seconds=table.number("send_timeout_seconds", 20.0, minimum=0.1),
        lease_seconds=table.number("lease_seconds", 60.0, minimum=0.2),
        retry_initial_seconds=table.number("retry_initial_seconds", 2.0, minimum=0.01),
        retry_max_seconds=table.number("retry_max_seconds", 300.0, minimum=0.01),
        poll_interval_seconds=table.number("poll_interval_seconds", 5.0, minimum=0.01),
        max_age_hours=table.number("max_age_hours", 24.0, minimum=0.01),
    )
    if result.lease_seconds <= result.send_timeout_seconds:
        raise ConfigError("sms.lease_seconds: must be longer than sms.send_timeout_seconds "
                          "(else a slow send could be claimed and sent twice)")
    if result.retry_max_seconds < result.retry_initial_seconds:
        raise ConfigError("sms.retry_max_seconds: must not be below sms.retry_initial_seconds")
    table.reject_unknown()
    return result


def _passwords(table: Table) -> PasswordConfig:
    result = PasswordConfig(
        length=table.integer("length", 8, minimum=6, maximum=32),
        validity_minutes=table.integer("validity_minutes", 60, minimum=1, maximum=7 * 24 * 60),
        rate_limit_count=table.integer("rate_limit_count", 3, minimum=1, maximum=1000),
        rate_limit_window_minutes=table.integer("rate_limit_window_minutes", 60, minimum=1),
        login_max_failures=table.integer("login_max_failures", 5, minimum=1, maximum=100),
        lockout_minutes=table.integer("lockout_minutes", 15, minimum=1),
        alphabet=table.text("alphabet", LOOK_ALIKE_FREE_ALPHABET),
    )
    problem = alphabet_problem(result.alphabet)
    if problem is not None:
        raise ConfigError(f"{table.key('alphabet')}: {result.alphabet!r} {problem}")
    table.reject_unknown()
    return result


def _dates(table: Table, name: str) -> tuple[date, ...]:
    result = []
    for index, text in enumerate(table.texts(name, [])):
        try:
            result.append(dt.date.fromisoformat(text))
        except ValueError:
            raise ConfigError(
                f"{table.key(name)}[{index}]: {text!r} is not a date (YYYY-MM-DD)") from None
    return tuple(result)


def _weekend(table: Table) -> tuple[int, ...]:
    days: tuple[int, ...] = table.integers("weekend", (5, 6), minimum=0, maximum=6)
    if len(set(days)) == 7:
        raise ConfigError(f"{table.key('weekend')}: every day cannot be a weekend day "
                          "(no application would ever be reviewed)")
    return days


def _linking(table: Table) -> LinkingConfig:
    result = LinkingConfig(
        review_working_days=table.integer("review_working_days", 2, minimum=0, maximum=60),
        holidays=_dates(table, "holidays"),
        working_weekends=_dates(table, "working_weekends"),
        weekend=_weekend(table),
        utc_offset_hours=table.number("utc_offset_hours", 3.0, minimum=-12, maximum=14),
        auto_approval_minutes=table.number("auto_approval_minutes", 5.0, minimum=0.01),
    )
    table.reject_unknown()
    return result
