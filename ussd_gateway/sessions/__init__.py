"""Where live USSD session state lives between requests: memory (one process) or Redis (many)."""

from .base import SessionStore
from .memory import MemorySessionStore

__all__ = ["MemorySessionStore", "SessionStore"]
