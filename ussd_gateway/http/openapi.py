"""The OpenAPI 3 document, built from the route table (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .components import SCHEMAS
from .problems import KINDS
from .routing import JSON, Auth, Route

# Problems any route may answer with, whatever it does.
COMMON_PROBLEMS = ("internal-error", "store-unavailable")
_AUTH_PROBLEMS = {
    Auth.NONE: (),
    Auth.SUBSCRIBER: ("unauthorized", "password-change-required"),
    Auth.SUBSCRIBER_ANY: ("unauthorized",),
    Auth.OPERATOR: ("unauthorized",),
}
_BODY_PROBLEMS = ("malformed-json", "invalid-request", "body-too-large", "unsupported-media-type")
_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    Auth.NONE: [],
    Auth.SUBSCRIBER: [{"subscriberToken": []}],
    Auth.SUBSCRIBER_ANY: [{"subscriberToken": []}],
    Auth.OPERATOR: [{"operatorToken": []}],
}


def problems_of(route: Route) -> tuple[str, ...]:
    slugs = list(route.problems) + list(_AUTH_PROBLEMS[route.auth]) + list(COMMON_PROBLEMS)
    if route.body:
        slugs += _BODY_PROBLEMS
    elif route.query:
        slugs.append("invalid-request")
    return tuple(dict.fromkeys(slugs))


def document(routes: Sequence[Route], *, title: str = "ussd-gateway",
             version: str = "1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version,
                 "description": "Personal account, operator console, health and metrics of "
                                "the USSD gateway. Errors are application/problem+json; each "
                                "problem's `type` is a stable URI: "
                                + ", ".join(k.type_uri for k in KINDS.values()) + "."},
        "paths": paths,
        "components": {
            "schemas": dict(SCHEMAS),
            "securitySchemes": {
                "subscriberToken": {"type": "http", "scheme": "bearer",
                                    "description": "from POST /api/v1/login; ends after "
                                                   "http.token_ttl_seconds or when the "
                                                   "number gets a new password"},
                "operatorToken": {"type": "http", "scheme": "bearer",
                                  "description": "an [http.admin_tokens] token from config"},
            },
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary,
                                 "tags": [route.tag], "security": _SECURITY[route.auth]}
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"{(\w+)}", route.path)]
    parameters += [{"name": name, "in": "query", "required": False, "schema": dict(schema)}
                   for name, schema in route.query.items()]
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        operation["requestBody"] = {"required": True, "content": {
            media: {"schema": dict(schema)} for media, schema in route.body.items()}}
    responses: dict[str, Any] = {}
    for status, (description, schema) in route.responses.items():
        answer: dict[str, Any] = {"description": description}
        if route.raw_response is not None:
            answer["content"] = {route.raw_response: {"schema": {"type": "string"}}}
        elif schema is not None:
            answer["content"] = {JSON: {"schema": dict(schema)}}
        responses[str(status)] = answer
    by_status: dict[int, list[str]] = {}
    for slug in problems_of(route):
        by_status.setdefault(KINDS[slug].status, []).append(slug)
    for status, slugs in sorted(by_status.items()):
        responses.setdefault(str(status), {
            "description": "; ".join(f"{KINDS[s].type_uri}: {KINDS[s].title}" for s in slugs),
            "content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}},
        })
    operation["responses"] = responses
    return operation
