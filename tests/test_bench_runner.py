"""The bench runner: the config it writes, a whole scenario against `ussd-gateway run`, and the
profile summary."""

from __future__ import annotations

from pathlib import Path

from bench.backends import Backend
from bench.bench_menus import engine_table
from bench.bench_menus import run as run_engine
from bench.gateway_config import bench_config, write_config
from bench.profile import summarise_profile
from bench.report import derive, table
from bench.run import Load, run_scenario
from menus import MenuEngine, load_menus
from ussd_gateway.config import load_config

REPO = Path(__file__).resolve().parent.parent

TINY = Load(handsets=4, subscribers=8, warmup=0.3, duration=1.0, open_fraction=0.5,
            open_duration=1.0)


def test_the_bench_config_is_one_the_gateway_accepts(tmp_path: Path) -> None:
    path = write_config(tmp_path / "bench.toml", bench_config(
        smsc_port=41234, store_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
        sessions={"backend": "redis", "key_prefix": "bench-x:"}, workdir=tmp_path))

    config = load_config(path, environ={})

    assert not config.simulator.enabled and not config.http.enabled
    assert [(c.mode, c.host, c.port, getattr(c.dialect, "name", c.dialect))
            for c in config.connections] == [("esme", "127.0.0.1", 41234, "generic")]
    assert config.sms.connection == config.connections[0].name
    assert config.store.url.endswith("/b.db") and not config.store.demo_data
    assert (config.sessions.backend, config.sessions.key_prefix) == ("redis", "bench-x:")
    assert config.log_level == "WARNING"
    assert config.passwords.rate_limit_count >= 1000
    assert all(p.is_absolute() and (p / "selfcare.toml").exists() for p in config.menus.paths)
    assert (tmp_path / "secret.key").exists()


async def test_password_scenario_against_the_real_gateway(tmp_path: Path) -> None:
    backend = Backend("sqlite")
    async with backend.template(tmp_path, TINY.subscribers) as template:
        async with backend.fresh(tmp_path, template, "password") as store:
            run = await run_scenario("password", store, TINY, tmp_path)

    figures = derive(run)
    assert figures["errors"] == 0, run
    assert float(figures["steps_per_s"]) > 0
    assert figures["p99_ms"] is not None and figures["cpu_ms_per_step"] is not None
    assert run["sut_exit"] == 0  # the gateway stopped cleanly on SIGTERM
    check = run["store_check"]
    assert check["all_committed"], check
    assert check["passwords_issued"] == run["load"]["total_dialogues"] > 0
    assert "| password | sqlite |" in table([{"scenario": "password", "store": "sqlite",
                                             "figures": figures, "echo_ratio": None}])


def test_the_profile_summary_leaves_idle_waits_out(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks.txt"
    stacks.write_text(
        "thread (1): MainThread;run (asyncio/runners.py:190);"
        "UssdDispatcher._walk (ussd_gateway/dispatch.py:90) 30\n"
        "thread (1): MainThread;run (asyncio/runners.py:190);"
        "EpollSelector.select (selectors.py:468) 50\n"
        "thread (2): Thread-1 (w);_connection_worker_thread (aiosqlite/core.py:59) 70\n"
        "thread (2): Thread-1 (w);_connection_worker_thread (aiosqlite/core.py:63) 10\n")

    summary = summarise_profile(stacks)

    assert summary.startswith("40 busy samples (120 idle")
    assert "75.0%  gateway (dispatch, services)" in summary
    assert "25.0%  aiosqlite / sqlite3" in summary


async def test_the_engine_cost_is_measured_with_sessions_in_the_real_store() -> None:
    engine = MenuEngine(load_menus([REPO / "menus"]))
    reply_us, dial_us = await run_engine(engine, live=50, steps=200)
    assert reply_us > 0 and dial_us > 0
    assert "| 50 |" in engine_table([{"live_sessions": 50, "us_per_reply_step": reply_us,
                                      "us_per_direct_dial": dial_us}])
