"""A small JSON Schema checker for the subset the OpenAPI document uses (pure, no I/O).

Request bodies are checked against the same schemas the document publishes, so the document
and the handlers cannot drift apart. Supported keywords: type (one or a list), enum,
properties, required, additionalProperties (false or a schema), items, minItems, maxItems,
minLength, maxLength, pattern, minimum, maximum, anyOf and local ``$ref`` to
``#/components/schemas``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]
_REF_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class SchemaError:
    path: str  # JSON pointer-ish: "/numbers/2"
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.path or "/", "message": self.message}


def _type_matches(expected: str, value: object) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "null":
        return value is None
    raise ValueError(f"schema uses unsupported type {expected!r}")


def validate(schema: Schema, value: object, components: Mapping[str, Schema] | None = None,
             path: str = "") -> list[SchemaError]:
    """Every way ``value`` breaks ``schema``; empty when it conforms."""
    components = components or {}
    if "$ref" in schema:
        ref = str(schema["$ref"])
        if not ref.startswith(_REF_PREFIX) or ref[len(_REF_PREFIX):] not in components:
            raise ValueError(f"unresolvable schema reference {ref!r}")
        return validate(components[ref[len(_REF_PREFIX):]], value, components, path)
    if "anyOf" in schema:
        options = [validate(option, value, components, path) for option in schema["anyOf"]]
        if all(options):
            return min(options, key=len)
    expected = schema.get("type")
    if expected is not None:
        types = [expected] if isinstance(expected, str) else list(expected)
        if not any(_type_matches(t, value) for t in types):
            return [SchemaError(path, f"must be {' or '.join(types)}")]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"])
        return [SchemaError(path, f"must be one of: {allowed}")]
    if isinstance(value, dict):
        return _object_errors(schema, value, components, path)
    if isinstance(value, list):
        return _array_errors(schema, value, components, path)
    if isinstance(value, str):
        return _string_errors(schema, value, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_errors(schema, value, path)
    return []


def _object_errors(schema: Schema, value: dict[str, Any], components: Mapping[str, Schema],
                   path: str) -> list[SchemaError]:
    errors = [SchemaError(f"{path}/{name}", "is required")
              for name in schema.get("required", ()) if name not in value]
    properties: Mapping[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            errors += validate(properties[name], item, components, f"{path}/{name}")
        elif extra is False:
            errors.append(SchemaError(f"{path}/{name}", "is not a known field"))
        elif isinstance(extra, Mapping):
            errors += validate(extra, item, components, f"{path}/{name}")
    return errors


def _array_errors(schema: Schema, value: list[Any], components: Mapping[str, Schema],
                  path: str) -> list[SchemaError]:
    errors = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(SchemaError(path, f"needs at least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(SchemaError(path, f"takes at most {schema['maxItems']} items"))
    if "items" in schema:
        for index, item in enumerate(value):
            errors += validate(schema["items"], item, components, f"{path}/{index}")
    return errors


def _string_errors(schema: Schema, value: str, path: str) -> list[SchemaError]:
    if "minLength" in schema and len(value) < schema["minLength"]:
        return [SchemaError(path, f"must have at least {schema['minLength']} characters")]
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return [SchemaError(path, f"must have at most {schema['maxLength']} characters")]
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        return [SchemaError(path, f"must match {schema['pattern']}")]
    return []


def _number_errors(schema: Schema, value: float, path: str) -> list[SchemaError]:
    if "minimum" in schema and value < schema["minimum"]:
        return [SchemaError(path, f"must be at least {schema['minimum']}")]
    if "maximum" in schema and value > schema["maximum"]:
        return [SchemaError(path, f"must be at most {schema['maximum']}")]
    return []
