"""Routes as data: one table drives both the aiohttp router and the OpenAPI document.

Each route declares who may call it and the schema of its JSON body and query; the wrapper
enforces both before the handler runs, so what the document promises is what is checked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiohttp import web

from .auth import operator_name, subscriber_claims
from .client_address import resolve_client_address
from .deps import HttpDeps
from .problems import Problem
from .schema import Schema, validate
from .tokens import TokenSigner

JSON = "application/json"


class Auth(Enum):
    NONE = "none"
    SUBSCRIBER = "subscriber"
    # A subscriber token, including one that only allows changing the temporary password.
    SUBSCRIBER_ANY = "subscriber-any"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Call:
    """One API call, authenticated and with its body and query checked."""

    request: web.Request
    deps: HttpDeps
    signer: TokenSigner
    channel: str  # for the audit log: "web", "operator:<token name>", "anonymous"
    msisdn: str  # the logged-in subscriber, "" when none
    body: Any  # parsed JSON body (None without one)
    text: str | None  # a non-JSON body (CSV) as text
    media_type: str | None
    query: Mapping[str, Any]

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def client_address(self) -> str:
        """The caller's IP address, as forwarded by a trusted proxy; "unknown" without one."""
        forwarded_for = self.request.headers.getall("X-Forwarded-For", [])
        resolved = resolve_client_address(self.request.remote, forwarded_for,
                                          self.deps.trusted_proxies)
        return resolved or "unknown"


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: Auth = Auth.NONE
    # Media type -> schema of the request body (JSON ones are checked against it).
    body: Mapping[str, Schema] = field(default_factory=dict)
    query: Mapping[str, Schema] = field(default_factory=dict)
    # Status -> (description, schema of a JSON answer, or None for no body).
    responses: Mapping[int, tuple[str, Schema | None]] = field(default_factory=dict)
    # Problem slugs this route may answer with (beyond the ones every route may give).
    problems: tuple[str, ...] = ()
    # A route that answers in a format of its own (metrics text); documented as such.
    raw_response: str | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")


def wrap(route: Route, deps: HttpDeps, signer: TokenSigner,
         components: Mapping[str, Schema]) -> WebHandler:
    async def handle(request: web.Request) -> web.StreamResponse:
        channel, msisdn = "anonymous", ""
        if route.auth is Auth.OPERATOR:
            channel = "operator:" + operator_name(request, deps.admin_tokens)
        elif route.auth in (Auth.SUBSCRIBER, Auth.SUBSCRIBER_ANY):
            claims = await subscriber_claims(
                request, signer, deps.clock(), deps.services.passwords.credential_stamp,
                allow_password_change=route.auth is Auth.SUBSCRIBER_ANY)
            channel, msisdn = "web", claims.msisdn
        elif route.path.startswith("/api/v1/"):
            channel = "web"
        body, text, media_type = await _read_body(request, route, components)
        query = _read_query(request, route, components)
        return await route.handler(Call(request=request, deps=deps, signer=signer,
                                        channel=channel, msisdn=msisdn, body=body, text=text,
                                        media_type=media_type, query=query))

    handle.__name__ = route.operation_id
    return handle


async def _read_body(request: web.Request, route: Route,
                     components: Mapping[str, Schema]) -> tuple[Any, str | None, str | None]:
    if not route.body:
        return None, None, None
    media_type = request.content_type
    if media_type not in route.body:
        raise Problem("unsupported-media-type",
                      f"send the body as {' or '.join(route.body)}, not {media_type}")
    raw = await request.read()  # over the app's client_max_size: HTTP 413 -> body-too-large
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem("malformed-json" if media_type == JSON else "invalid-request",
                      "the body is not UTF-8 text") from None
    if media_type != JSON:
        return None, text, media_type
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise Problem("malformed-json", f"line {getattr(exc, 'lineno', '?')}: not JSON") from None
    _check(route.body[JSON], body, components, "/body")
    return body, None, media_type


def _read_query(request: web.Request, route: Route,
                components: Mapping[str, Schema]) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name, schema in route.query.items():
        if name not in request.query:
            continue
        raw = request.query[name]
        value: Any = raw
        if schema.get("type") == "integer":
            try:
                value = int(raw)
            except ValueError:
                raise Problem("invalid-request", errors=[
                    {"field": f"/query/{name}", "message": "must be integer"}]) from None
        _check(schema, value, components, f"/query/{name}")
        query[name] = value
    return query


def _check(schema: Schema, value: object, components: Mapping[str, Schema], where: str) -> None:
    errors = validate(schema, value, components, where)
    if errors:
        raise Problem("invalid-request", "; ".join(f"{e.path}: {e.message}" for e in errors),
                      errors=[e.as_dict() for e in errors])
