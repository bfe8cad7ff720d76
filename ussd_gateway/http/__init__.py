"""The aiohttp application: personal-account API, operator API, health and metrics."""

from .app import build_app

__all__ = ["build_app"]
