"""The error middleware: the one place where exceptions become problem responses.

Nothing else in the HTTP layer writes an error response, and no exception text, let alone a
traceback, reaches a client: unexpected exceptions are logged here and answered with a bare
``internal-error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from sqlalchemy.exc import InterfaceError, OperationalError

from ..metrics import Metrics
from ..store.database import StoreUnavailable
from .problems import PROBLEM_CONTENT_TYPE, Problem

log = logging.getLogger("ussd_gateway.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_STATUS_PROBLEMS = {
    404: "not-found",
    405: "method-not-allowed",
    413: "body-too-large",
    415: "unsupported-media-type",
}


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    body = json.dumps(problem.document(instance=request.path), ensure_ascii=False)
    return web.Response(status=problem.kind.status, text=body, headers=problem.headers,
                        content_type=PROBLEM_CONTENT_TYPE, charset="utf-8")


def error_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Problem as problem:
            found = problem
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            found = _from_http_exception(exc)
        except (StoreUnavailable, OperationalError, InterfaceError) as exc:
            log.error("store error on %s %s: %s", request.method, request.path,
                      type(exc).__name__)
            found = Problem("store-unavailable")
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            found = Problem("internal-error")
        metrics.http_problems.labels(found.kind.slug).inc()
        return problem_response(found, request)

    return middleware


def _from_http_exception(exc: web.HTTPException) -> Problem:
    slug = _HTTP_STATUS_PROBLEMS.get(exc.status)
    if slug is None:
        log.warning("unexpected HTTP %s from aiohttp: %s", exc.status, exc.reason)
        return Problem("internal-error")
    headers = {}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return Problem(slug, headers=headers)
