"""What the store holds after a run: every answered password must be there, with its SMS."""

from __future__ import annotations

from sqlalchemy import text

from ussd_gateway.store.database import Database


async def password_rows(url: str) -> dict[str, object]:
    """Passwords issued (audit log) and password SMS in the outbox, by state."""
    db = await Database.connect(url)
    try:
        async with db.read() as session:
            issued = await session.scalar(
                text("SELECT count(*) FROM audit_log WHERE action = 'password.issued'"))
            rows = await session.execute(
                text("SELECT state, count(*) FROM sms_outbox GROUP BY state ORDER BY state"))
            by_state = {str(state): int(count) for state, count in rows}
    finally:
        await db.close()
    return {"passwords_issued": int(issued or 0), "sms_outbox": by_state,
            "sms_rows": sum(by_state.values())}
