"""Fixtures for real PostgreSQL and Redis servers (stub: the store work replaces it)."""
