"""The account store: models, engine setup, migrations entry point."""

from ussd_gateway.store.database import Database, StoreUnavailable

__all__ = ["Database", "StoreUnavailable"]
