"""The JSON schemas of request and response bodies: ``#/components/schemas`` of the document."""

from __future__ import annotations

from typing import Any

from .schema import Schema


def ref(name: str) -> Schema:
    assert name in SCHEMAS, name
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None,
            *, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": list(required),
                              "properties": {**required, **(optional or {})}}
    if closed:
        schema["additionalProperties"] = False
    return schema


_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
_OPTIONAL_COUNT = {"type": ["integer", "null"], "minimum": 0}
_MSISDN_IN = {"type": "string", "minLength": 1, "maxLength": 32,
              "description": "any accepted form: +7 916 123-45-67, 89161234567, 9161234567"}
_MSISDN = {"type": "string", "pattern": "^[0-9]{6,15}$", "description": "canonical, E.164 digits"}
_PASSWORD = {"type": "string", "minLength": 1, "maxLength": 128}
_MONEY = {"$ref": "#/components/schemas/Money"}
_LANGUAGE = {"type": "string", "enum": ["ru", "en"]}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
_PRICE = {"type": "integer", "minimum": 0, "maximum": 10**12,
          "description": "minor units (kopecks)"}

SCHEMAS: dict[str, Schema] = {
    "Problem": _object(
        {"type": _TEXT, "title": _TEXT, "status": {"type": "integer"}},
        {"detail": _TEXT, "instance": _TEXT}, closed=False),
    "Health": _object({"status": {"type": "string", "enum": ["ok"]}}),
    "Readiness": _object({"ready": {"type": "boolean"},
                          "checks": {"type": "object",
                                     "additionalProperties": {"type": "boolean"}}}),
    "Money": _object({"amount_minor": {"type": "integer"},
                      "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                      "formatted": _TEXT}),
    # --- personal account ---------------------------------------------------------------
    "PasswordRequest": _object({"msisdn": _MSISDN_IN}),
    "PasswordRequestAccepted": _object({"message": _TEXT}),
    "LoginRequest": _object({"msisdn": _MSISDN_IN, "password": _PASSWORD}),
    "Login": _object({"token": _TEXT, "token_type": {"type": "string", "enum": ["Bearer"]},
                      "expires_at": _TIME, "msisdn": _MSISDN,
                      "must_change_password": {"type": "boolean"}}),
    "PasswordChange": _object({"current_password": _PASSWORD, "new_password": _PASSWORD}),
    "ServiceState": _object({"code": _TEXT, "name": _TEXT, "enabled": {"type": "boolean"},
                             "connection_price": _MONEY, "monthly_fee": _MONEY}),
    "NumberBalance": _object({"msisdn": _MSISDN, "balance": _MONEY}),
    "Account": _object({
        "msisdn": _MSISDN, "region": _TEXT, "language": _LANGUAGE, "balance": _MONEY,
        "services": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceState"}},
        "linked_numbers": {"type": "array",
                           "items": {"$ref": "#/components/schemas/NumberBalance"}}}),
    "LinkApplicationRequest": _object(
        {"numbers": {"type": "array", "items": _MSISDN_IN, "minItems": 1, "maxItems": 100}},
        {"region": {"type": "string", "minLength": 1, "maxLength": 100}}),
    "LinkApplication": _object({
        "id": {"type": "integer"}, "applicant": _MSISDN, "region": _TEXT,
        "numbers": {"type": "array", "items": _MSISDN},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "submitted_at": _TIME, "review_due_at": _TIME,
        "decision_reason": {"type": ["string", "null"]}}),
    "LinkApplications": _object({
        "applications": {"type": "array",
                         "items": {"$ref": "#/components/schemas/LinkApplication"}}}),
    # --- operator -------------------------------------------------------------------------
    "SubscriberInput": _object(
        {"msisdn": _MSISDN_IN, "owner": {"type": "string", "minLength": 1, "maxLength": 200},
         "region": {"type": "string", "minLength": 1, "maxLength": 100}},
        {"language": _LANGUAGE, "status": {"type": "string", "enum": ["active", "blocked"]},
         "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}}),
    # Items are checked one by one (as SubscriberInput) so a bad row is reported, not fatal.
    "SubscriberImport": {"type": "array", "maxItems": 100_000,
                         "items": {"description": "a SubscriberInput object"}},
    "Subscriber": _object({"msisdn": _MSISDN, "owner": _TEXT, "region": _TEXT,
                           "language": _TEXT, "status": _TEXT}),
    "SubscriberDetail": _object({
        "subscriber": {"$ref": "#/components/schemas/Subscriber"},
        "balance": {"anyOf": [_MONEY, {"type": "null"}]},
        "services": {"type": "array", "items": _TEXT},
        "linked_numbers": {"type": "array", "items": _MSISDN}}),
    "ImportReport": _object({
        "created": _COUNT, "updated": _COUNT,
        "refused": {"type": "array", "items": _object(
            {"row": {"type": "integer"}, "msisdn": {"type": ["string", "null"]},
             "reason": _TEXT})}}),
    "CatalogueEntryInput": _object(
        {"names": {"type": "object", "description": "the name in every configured language",
                   "additionalProperties": {"type": "string", "minLength": 1,
                                            "maxLength": 100}},
         "connection_price_minor": _PRICE, "monthly_fee_minor": _PRICE},
        {"currency": _CURRENCY}),
    "CatalogueEntry": _object({
        "code": _TEXT, "name": _TEXT,
        "names": {"type": "object", "additionalProperties": _TEXT},
        "connection_price_minor": _PRICE, "monthly_fee_minor": _PRICE, "currency": _CURRENCY}),
    "Catalogue": _object({"services": {"type": "array",
                                       "items": {"$ref": "#/components/schemas/CatalogueEntry"}}}),
    "TopUp": _object({"amount_minor": {"type": "integer", "minimum": 1,
                                       "maximum": 10**12}},
                     {"reference": {"type": "string", "maxLength": 100}}),
    "NewBalance": _object({"msisdn": _MSISDN, "balance": _MONEY}),
    "Rejection": _object({"reason": {"type": "string", "minLength": 1, "maxLength": 500}}),
    "Decision": _object(
        {"id": {"type": "integer"}, "status": {"type": "string",
                                               "enum": ["approved", "rejected"]}},
        {"group_id": {"type": "integer"}, "added": {"type": "array", "items": _MSISDN},
         "reason": _TEXT}),
    "AuditTrail": _object({"msisdn": _MSISDN, "entries": {"type": "array", "items": _object(
        {"at": _TIME, "channel": _TEXT, "action": _TEXT, "details": {"type": "object"}})}}),
    "Sessions": _object({
        "open": _COUNT,
        "timed_out": {"type": "integer", "minimum": 0,
                      "description": "sessions that timed out, counted by this instance since "
                                     "it started (with Redis: by whichever instance saw the "
                                     "timeout first; /metrics sums them right)"},
        "limit": _COUNT,
        "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/LiveSession"}}}),
    "LiveSession": _object({
        "msisdn": {"type": ["string", "null"], "description": "masked: 7916***4567"},
        "code": _OPTIONAL_TEXT, "screen": _OPTIONAL_TEXT, "language": _OPTIONAL_TEXT,
        "started_at": _OPTIONAL_TIME, "last_request_at": _OPTIONAL_TIME,
        "age_seconds": _OPTIONAL_COUNT, "idle_seconds": _OPTIONAL_COUNT}),
    "Outbox": _object({"unsent": _COUNT, "messages": {"type": "array", "items": _object(
        {"id": {"type": "integer"}, "destination": _MSISDN, "purpose": _TEXT,
         "secret": {"type": "boolean"}, "state": _TEXT, "attempts": _COUNT,
         "created_at": _TIME, "smsc_message_id": {"type": ["string", "null"]},
         "receipt_state": {"type": ["string", "null"]},
         "last_error": {"type": ["string", "null"]}})}}),
    "SmppConnections": _object({"connections": {"type": "array", "items": _object(
        {"name": _TEXT, "mode": {"type": "string", "enum": ["esme", "smsc"]},
         "bound": {"type": "boolean"}},
        {"reconnects": _COUNT, "throttled": _COUNT, "requests_throttled": _COUNT,
         "sessions": _COUNT, "binds_refused": _COUNT})}}),
    "MenusReloaded": _object({"status": {"type": "string", "enum": ["reloaded"]}}),
}
