"""Every error the API answers with, as RFC 9457 ``application/problem+json``.

One table of problem kinds: each has a stable ``type`` URI, an HTTP status and a title. Handlers
raise :class:`Problem`; the error middleware turns it (and everything else) into a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:ussd-gateway:problem:"


@dataclass(frozen=True)
class ProblemKind:
    slug: str
    status: int
    title: str

    @property
    def type_uri(self) -> str:
        return TYPE_PREFIX + self.slug


def _kinds(*kinds: ProblemKind) -> dict[str, ProblemKind]:
    return {kind.slug: kind for kind in kinds}


KINDS = _kinds(
    ProblemKind("malformed-json", 400, "The request body is not valid JSON"),
    ProblemKind("invalid-request", 422, "The request does not match the API description"),
    ProblemKind("invalid-msisdn", 422, "Not a phone number of this operator's plan"),
    ProblemKind("body-too-large", 413, "The request body is too large"),
    ProblemKind("unsupported-media-type", 415, "The request body has an unsupported media type"),
    ProblemKind("unauthorized", 401, "A valid bearer token is required"),
    ProblemKind("password-change-required", 403,
                "Change the temporary password before using the account"),
    ProblemKind("not-found", 404, "No such resource"),
    ProblemKind("method-not-allowed", 405, "Method not allowed on this resource"),
    ProblemKind("invalid-credentials", 401, "Wrong phone number or password"),
    ProblemKind("locked-out", 423, "Too many wrong passwords: login is locked for a while"),
    ProblemKind("password-rate-limited", 429, "Too many passwords requested for this number"),
    ProblemKind("client-rate-limited", 429, "Too many password requests from this address"),
    ProblemKind("password-rejected", 422, "The new password is not acceptable"),
    ProblemKind("not-subscriber", 404, "The number is not an active subscriber"),
    ProblemKind("unknown-service", 404, "No such service in the catalogue"),
    ProblemKind("insufficient-funds", 409,
                "The balance does not cover the connection price: nothing was enabled"),
    ProblemKind("price-in-other-currency", 409,
                "The service is priced in another currency than the balance"),
    ProblemKind("application-refused", 422, "The link application was refused"),
    ProblemKind("application-not-found", 404, "No such link application"),
    ProblemKind("application-already-decided", 409, "The link application is already decided"),
    ProblemKind("menus-refused", 422, "The new menus were refused; the old ones keep serving"),
    ProblemKind("store-unavailable", 503, "The account store is not reachable"),
    ProblemKind("internal-error", 500, "Internal error"),
)


class Problem(Exception):
    """An error answer; ``extensions`` become extra members of the problem document."""

    def __init__(self, slug: str, detail: str | None = None, *,
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        self.kind = KINDS[slug]
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions
        super().__init__(detail or self.kind.title)

    def document(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.kind.type_uri, "title": self.kind.title,
                                "status": self.kind.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(-(-seconds // 1))))}
