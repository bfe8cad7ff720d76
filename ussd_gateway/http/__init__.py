"""The aiohttp application: personal-account API, operator API, health and metrics."""

from .app import build_app
from .deps import HttpDeps

__all__ = ["HttpDeps", "build_app"]
