"""Applying checked import rows through the subscriber service (shared by API and CLI)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..services.subscribers import SubscriberService
from .importing import RowRefusal, SubscriberRecord


@dataclass(frozen=True)
class ImportReport:
    created: int
    updated: int
    refused: tuple[RowRefusal, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated,
                "refused": [{"row": r.row, "msisdn": r.msisdn, "reason": r.reason}
                            for r in self.refused]}


async def import_subscribers(service: SubscriberService,
                             checked: Iterable[SubscriberRecord | RowRefusal], *,
                             channel: str) -> ImportReport:
    created = updated = 0
    refused: list[RowRefusal] = []
    for item in checked:
        if isinstance(item, RowRefusal):
            refused.append(item)
            continue
        existed = await service.exists(item.msisdn)
        try:
            await service.upsert(item.msisdn, owner=item.owner, region=item.region,
                                 language=item.language, status=item.status,
                                 currency=item.currency, channel=channel)
        except ValueError as exc:  # the service's own checks, phrased for the operator
            refused.append(RowRefusal(item.row, item.msisdn, str(exc)))
            continue
        if existed:
            updated += 1
        else:
            created += 1
    return ImportReport(created=created, updated=updated, refused=tuple(refused))
