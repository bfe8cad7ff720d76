"""The shared server fixtures: fresh PostgreSQL databases, Redis prefixes, skip or fail."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from ussd_gateway.store.database import Database

REPO = Path(__file__).resolve().parent.parent


async def test_pg_url_is_a_fresh_empty_database_of_its_own(pg_url: str) -> None:
    db = await Database.connect(pg_url)
    try:
        async with db.read() as session:
            name = (await session.execute(text("SELECT current_database()"))).scalar()
            tables = (await session.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ))).scalar()
        assert name is not None and name.startswith("ussd_test_")
        assert tables == 0
    finally:
        await db.close()


async def test_redis_prefix_is_unique_and_usable(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.set(redis_prefix + "probe", "1", ex=60)
        assert await client.get(redis_prefix + "probe") == b"1"
    finally:
        await client.aclose()
    assert redis_prefix.startswith("ussd-test:")


_PROBE = """
def test_needs_postgres(pg_url):
    pass

def test_needs_redis(redis_url):
    pass
"""


@pytest.mark.parametrize(("required", "outcome"), [("0", "2 skipped"), ("1", "2 errors")])
async def test_an_unreachable_server_skips_unless_services_are_required(
    tmp_path: Path, required: str, outcome: str
) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(_PROBE)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "REQUIRE_SERVICES": required,
        "USSD_TEST_PG_DSN": "postgresql://postgres@127.0.0.1:1/postgres",
        "USSD_TEST_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", str(probe), "-p", "tests.fixtures_services", "-q",
        "-rs", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
        "-o", "asyncio_default_fixture_loop_scope=function",
        env=env, cwd=str(REPO), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    report = output.decode()
    assert outcome in report, report
    assert (process.returncode == 0) == (required == "0"), report
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:1/postgres is not reachable" in report
    assert "Redis at redis://127.0.0.1:1/0 is not reachable" in report
