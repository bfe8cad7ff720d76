"""Health, readiness, Prometheus metrics and the API document."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .routing import Call

OPENAPI_KEY = web.AppKey("openapi", dict[str, Any])


async def healthz(call: Call) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def readyz(call: Call) -> web.StreamResponse:
    checks = await call.deps.ready()
    ready = bool(checks) and all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(call: Call) -> web.StreamResponse:
    await call.deps.metrics.refresh()
    body = call.deps.metrics.render()
    # generate_latest() writes the 0.0.4 text format, so say exactly that.
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4,
                                            "X-Content-Type-Options": "nosniff"})


async def openapi_document(call: Call) -> web.StreamResponse:
    return web.json_response(call.request.app[OPENAPI_KEY])
