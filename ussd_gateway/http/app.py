from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ..metrics import Metrics

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]

METRICS_KEY = web.AppKey("metrics", Metrics)
READY_KEY = web.AppKey("ready", ReadyCheck)  # type: ignore[type-abstract]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[READY_KEY]()
    ready = all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def build_app(*, metrics_registry: Metrics, ready: ReadyCheck,
              max_body_bytes: int = 1024 * 1024) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes)
    app[METRICS_KEY] = metrics_registry
    app[READY_KEY] = ready
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
