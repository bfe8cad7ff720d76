"""The OpenAPI document against the running app: same routes, and answers that match it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.http_harness import IVAN, IVAN_2, Api, Reply, start_api
from ussd_gateway.http.problems import KINDS, TYPE_PREFIX
from ussd_gateway.http.schema import validate
from ussd_gateway.sessions.record import session_value


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for started in start_api(tmp_path):
        yield started


async def _document(api: Api) -> dict[str, Any]:
    reply = await api.call("GET", "/api/openapi.json")
    assert reply.status == 200
    assert reply.body["openapi"].startswith("3.")
    return dict(reply.body)


def _registered(app: web.Application) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        routes.add((route.method.lower(), str(path)))
    return routes


async def test_every_registered_route_is_documented_and_every_documented_one_exists(
        api: Api) -> None:
    document = await _document(api)
    documented = {(method, path) for path, operations in document["paths"].items()
                  for method in operations}
    from ussd_gateway.http import build_app

    registered = _registered(build_app(api.deps, max_body_bytes=1024))
    assert registered == documented


async def test_every_problem_type_is_stable_and_described(api: Api) -> None:
    document = await _document(api)
    for kind in KINDS.values():
        assert kind.type_uri == TYPE_PREFIX + kind.slug
        assert kind.type_uri in document["info"]["description"]


class Checker:
    """Checks each answer against the document: its status is listed for the operation, and
    its body matches the schema given for that status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = document["components"]["schemas"]
        self.exercised: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, reply: Reply) -> Reply:
        operation = self.document["paths"][template][method.lower()]
        self.exercised.add((method.lower(), template))
        answer = operation["responses"].get(str(reply.status))
        assert answer is not None, f"{method} {template}: {reply.status} is not documented"
        content = answer.get("content", {})
        if not content:
            assert reply.text == "", f"{method} {template}: documented without a body"
            return reply
        media = reply.headers["Content-Type"].split(";")[0]
        assert media in content or (media == "text/plain" and "text/plain" in content), (
            f"{method} {template}: {media} not in {list(content)}")
        if media.endswith("json"):
            errors = validate(content[media]["schema"], reply.body, self.components)
            assert not errors, f"{method} {template} {reply.status}: {errors}"
        return reply


async def test_answers_of_every_operation_match_the_document(api: Api) -> None:
    check = Checker(await _document(api))

    async def call(method: str, template: str, path: str | None = None,
                   **kwargs: Any) -> Reply:
        return check(method, template, await api.call(method, path or template, **kwargs))

    async def admin(method: str, template: str, path: str | None = None,
                    **kwargs: Any) -> Reply:
        return check(method, template, await api.admin(method, path or template, **kwargs))

    await call("GET", "/healthz")
    await call("GET", "/readyz")
    await call("GET", "/metrics")
    await call("GET", "/api/openapi.json")

    await call("POST", "/api/v1/password-requests", json_body={"msisdn": IVAN})
    await call("POST", "/api/v1/password-requests", json_body={"msisdn": "x"})
    temporary = await api.sms_password(IVAN)
    await call("POST", "/api/v1/login", json_body={"msisdn": IVAN, "password": "nope"})
    first = await call("POST", "/api/v1/login", json_body={"msisdn": IVAN, "password": temporary})
    await call("GET", "/api/v1/account", token=first.body["token"])
    await call("POST", "/api/v1/account/password", token=first.body["token"],
               json_body={"current_password": temporary, "new_password": "short"})
    await call("POST", "/api/v1/account/password", token=first.body["token"],
               json_body={"current_password": temporary, "new_password": "Kv4rtira-na-Arbate"})
    token = (await call("POST", "/api/v1/login", json_body={
        "msisdn": IVAN, "password": "Kv4rtira-na-Arbate"})).body["token"]
    await call("GET", "/api/v1/account", token=token)
    await call("GET", "/api/v1/account")
    services = "/api/v1/account/services/{code}"
    await call("PUT", services, "/api/v1/account/services/number_management", token=token)
    await call("DELETE", services, "/api/v1/account/services/number_management", token=token)
    await call("PUT", services, "/api/v1/account/services/number_management", token=token)
    await call("PUT", services, "/api/v1/account/services/roaming", token=token)
    await admin("GET", "/admin/v1/services")
    catalogue_entry = "/admin/v1/services/{code}"
    await admin("PUT", catalogue_entry, "/admin/v1/services/concierge", json_body={
        "names": {"ru": "Консьерж", "en": "Concierge"}, "connection_price_minor": 10**6,
        "monthly_fee_minor": 0})
    await admin("PUT", catalogue_entry, "/admin/v1/services/concierge", json_body={
        "names": {"ru": "Консьерж", "en": "Concierge"}, "connection_price_minor": 10**7,
        "monthly_fee_minor": 100})
    await admin("PUT", catalogue_entry, "/admin/v1/services/concierge", json_body={
        "names": {"ru": "Консьерж"}, "connection_price_minor": 0, "monthly_fee_minor": 0})
    await call("PUT", services, "/api/v1/account/services/concierge", token=token)
    await call("PUT", services, "/api/v1/account/services/caller_id", token=token)
    await call("DELETE", services, "/api/v1/account/services/caller_id", token=token)
    await call("DELETE", services, "/api/v1/account/services/roaming", token=token)
    await api.deps.services.numbers.enable(IVAN_2, channel="ussd")
    await call("POST", "/api/v1/link-applications", token=token, json_body={"numbers": [IVAN]})
    filed = await call("POST", "/api/v1/link-applications", token=token,
                       json_body={"numbers": [IVAN_2]})
    number = filed.body["id"]
    await call("GET", "/api/v1/link-applications", token=token)
    one = "/api/v1/link-applications/{application_id}"
    await call("GET", one, f"/api/v1/link-applications/{number}", token=token)
    await call("GET", one, "/api/v1/link-applications/abc", token=token)

    await admin("POST", "/admin/v1/subscribers",
                json_body={"msisdn": "79165550001", "owner": "P", "region": "Omsk"})
    await admin("POST", "/admin/v1/subscribers",
                json_body={"msisdn": "79165550001", "owner": "P", "region": "Tomsk"})
    await call("POST", "/admin/v1/subscribers", json_body={})
    await admin("POST", "/admin/v1/subscribers/import", data=b"msisdn,owner,region\n1,2,3\n",
                headers={"Content-Type": "text/csv"})
    await admin("POST", "/admin/v1/subscribers/import", json_body=[{"msisdn": IVAN}])
    await admin("GET", "/admin/v1/subscribers/{msisdn}", f"/admin/v1/subscribers/{IVAN}")
    await admin("GET", "/admin/v1/subscribers/{msisdn}", "/admin/v1/subscribers/79169999999")
    top_up = "/admin/v1/subscribers/{msisdn}/top-up"
    await admin("POST", top_up, f"/admin/v1/subscribers/{IVAN}/top-up",
                json_body={"amount_minor": 100})
    await admin("GET", "/admin/v1/subscribers/{msisdn}/audit",
                f"/admin/v1/subscribers/{IVAN}/audit?limit=3")
    await admin("GET", "/admin/v1/subscribers/{msisdn}/audit",
                f"/admin/v1/subscribers/{IVAN}/audit?limit=many")
    await admin("GET", "/admin/v1/link-applications", "/admin/v1/link-applications?status=pending")
    await admin("GET", "/admin/v1/link-applications/{application_id}",
                f"/admin/v1/link-applications/{number}")
    await admin("POST", "/admin/v1/link-applications/{application_id}/approve",
                f"/admin/v1/link-applications/{number}/approve")
    await admin("POST", "/admin/v1/link-applications/{application_id}/reject",
                f"/admin/v1/link-applications/{number}/reject", json_body={"reason": "late"})
    await api.deps.sessions.save("79160000001:its:1", session_value(
        {"v": 1, "code": "111", "screen": "main", "language": "ru"}, "111", IVAN,
        began=1_760_000_000.0, now=1_760_000_030.0))
    live = await admin("GET", "/admin/v1/sessions")
    assert len(live.body["sessions"]) == 1
    await admin("GET", "/admin/v1/sessions", "/admin/v1/sessions?limit=0")
    await admin("GET", "/admin/v1/outbox")
    await admin("POST", "/admin/v1/menus/reload")
    await admin("GET", "/admin/v1/smpp")

    document_operations = {(method, path) for path, operations in check.document["paths"].items()
                           for method in operations}
    assert check.exercised == document_operations


def test_path_parameters_are_declared() -> None:
    from ussd_gateway.http.openapi import document
    from ussd_gateway.http.routes import ROUTES

    for path, operations in document(ROUTES)["paths"].items():
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path))
