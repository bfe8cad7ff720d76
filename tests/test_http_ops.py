"""Health, readiness, metrics and error answers over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http_harness import IVAN, Api, ApiOptions, start_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for started in start_api(tmp_path):
        yield started


async def test_health(api: Api) -> None:
    # /readyz against real SMPP links: tests/test_e2e_operator.py
    health = await api.call("GET", "/healthz")
    assert health.status == 200 and health.body == {"status": "ok"}


async def test_metrics_move_when_logins_sms_and_errors_happen(api: Api) -> None:
    reply = await api.call("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "ussd_requests" in reply.text and "smpp_bound" in reply.text

    await api.call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    assert await api.metric("sms_total", state="queued") == 1
    await api.login(IVAN, "wrong-password")
    assert await api.metric("web_logins_total", outcome="invalid") == 1
    assert await api.metric("http_problems_total", type="invalid-credentials") == 1
    temporary = await api.sms_password(IVAN)
    await api.login(IVAN, temporary)
    assert await api.metric("web_logins_total", outcome="must_change") == 1


async def test_malformed_oversized_and_mistyped_bodies_get_clear_problems(
        tmp_path: Path) -> None:
    async for api in start_api(tmp_path, ApiOptions(max_body_bytes=2048)):
        broken = await api.call("POST", "/api/v1/login", data=b'{"msisdn": "7916',
                                headers={"Content-Type": "application/json"})
        assert broken.status == 400 and broken.problem_type == "malformed-json"
        huge = await api.call("POST", "/api/v1/login", data=b'{"a": "' + b"x" * 5000 + b'"}',
                              headers={"Content-Type": "application/json"})
        assert huge.status == 413 and huge.problem_type == "body-too-large"
        form = await api.call("POST", "/api/v1/login", data=b"msisdn=1&password=2",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status == 415 and form.problem_type == "unsupported-media-type"
        not_object = await api.call("POST", "/api/v1/login", json_body=["msisdn"])
        assert not_object.status == 422 and not_object.problem_type == "invalid-request"
        assert not_object.body["errors"] == [{"field": "/body", "message": "must be object"}]
        binary = await api.call("POST", "/api/v1/login", data=b"\xff\xfe{}",
                                headers={"Content-Type": "application/json"})
        assert binary.status == 400 and binary.problem_type == "malformed-json"


async def test_unknown_paths_and_methods_are_problems_too(api: Api) -> None:
    missing = await api.call("GET", "/api/v1/nothing-here")
    assert missing.status == 404 and missing.problem_type == "not-found"
    assert missing.body["instance"] == "/api/v1/nothing-here"
    wrong = await api.call("DELETE", "/api/v1/login")
    assert wrong.status == 405 and wrong.problem_type == "method-not-allowed"
    assert "POST" in wrong.headers["Allow"]


async def test_an_unexpected_failure_reaches_the_client_as_a_bare_internal_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    failure = RuntimeError("secret internals at /srv/ussd/db.py line 42")
    async for api in start_api(tmp_path, ApiOptions(smpp_status_error=failure)):
        reply = await api.admin("GET", "/admin/v1/smpp")
        assert reply.status == 500
        assert reply.problem_type == "internal-error"
        assert "secret" not in reply.text and "Traceback" not in reply.text
        assert reply.body == {"type": "urn:ussd-gateway:problem:internal-error",
                              "title": "Internal error", "status": 500,
                              "instance": "/admin/v1/smpp"}
    assert "secret internals" in caplog.text  # the operator's log has it


async def test_per_address_limit_on_password_requests(tmp_path: Path) -> None:
    async for api in start_api(tmp_path, ApiOptions(password_requests_per_client=2)):
        for msisdn in ("79169999991", "79169999992"):
            ok = await api.call("POST", "/api/v1/password-requests",
                                json_body={"msisdn": msisdn})
            assert ok.status == 202
        limited = await api.call("POST", "/api/v1/password-requests",
                                 json_body={"msisdn": IVAN})
        assert limited.status == 429 and limited.problem_type == "client-rate-limited"
        assert int(limited.headers["Retry-After"]) > 0
        await api.sender.drain_once()
        assert api.inbox.messages == []  # the limited request sent nothing


async def test_a_broken_store_is_a_503_problem_not_a_trace(api: Api) -> None:
    from sqlalchemy import text

    async with api.deps.db.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE audit_log RENAME TO audit_log_gone"))
    reply = await api.admin("GET", f"/admin/v1/subscribers/{IVAN}/audit")
    assert reply.status == 503 and reply.problem_type == "store-unavailable"
    assert "audit_log" not in reply.text
