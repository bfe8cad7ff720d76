"""Building the aiohttp application from the route table."""

from __future__ import annotations

from aiohttp import web

from .account import PASSWORD_LIMITER_KEY
from .components import SCHEMAS
from .deps import HttpDeps
from .errors import error_middleware
from .openapi import document
from .ops import OPENAPI_KEY
from .ratelimit import ClientRateLimiter
from .routes import ROUTES
from .routing import wrap
from .tokens import TokenSigner


def build_app(deps: HttpDeps, *, max_body_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes,
                          middlewares=[error_middleware(deps.metrics)])
    signer = TokenSigner(deps.secret_key, deps.token_lifetime)
    app[PASSWORD_LIMITER_KEY] = ClientRateLimiter(deps.password_requests_per_client,
                                                  deps.password_request_window)
    app[OPENAPI_KEY] = document(ROUTES)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, wrap(route, deps, signer, SCHEMAS))
    return app
