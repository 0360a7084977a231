"""A small JSON Schema checker for the keywords msgspec's generator emits.

``jsonschema`` is not a dependency of the project; this covers what our published
schemas use (``$ref`` into ``$defs``, ``anyOf``, ``enum``, ``type``, ``properties``,
``required``, ``items``, string/array/number bounds, and the ``date-time``, ``date``
and ``uuid`` formats), which is enough to show a reader with only the schema and a
JSON parser can check our payloads.
"""

from __future__ import annotations

import re
from typing import Any

KEYWORDS = frozenset(
    {"$ref", "anyOf", "enum", "type", "required", "properties", "items", "minItems"}
    | {"minLength", "maxLength", "format", "minimum", "maximum"}
    # Annotations: they name, describe or locate; they constrain nothing.
    | {"$schema", "$id", "$defs", "title", "description", "default", "discriminator"}
)
"""Every keyword this checker handles or may safely ignore; a test keeps ours within it."""

FORMATS = {
    "date-time": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"),
    "date": re.compile(r"^\d{4}-\d\d-\d\d$"),
    "uuid": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
}
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def errors(  # noqa: PLR0912 - one branch per keyword
    instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, path: str = "$"
) -> list[str]:
    """Every violation of ``schema`` by ``instance``, each with its JSON path."""
    root = root if root is not None else schema
    found: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        found += errors(instance, root["$defs"][name], root, path)
    if "anyOf" in schema and all(errors(instance, sub, root, path) for sub in schema["anyOf"]):
        found.append(f"{path}: matches none of anyOf")
    if "enum" in schema and instance not in schema["enum"]:
        found.append(f"{path}: {instance!r} not in {schema['enum']}")
    expected = schema.get("type")
    if expected is not None:
        kinds = _TYPES[expected]
        is_bool = isinstance(instance, bool)
        if not isinstance(instance, kinds) or (is_bool and expected in ("integer", "number")):
            return [*found, f"{path}: expected {expected}"]
    if isinstance(instance, dict):
        for name in schema.get("required", []):
            if name not in instance:
                found.append(f"{path}: missing {name}")
        for name, sub in schema.get("properties", {}).items():
            if name in instance:
                found += errors(instance[name], sub, root, f"{path}.{name}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            found.append(f"{path}: fewer than {schema['minItems']} items")
        for index, item in enumerate(instance):
            found += errors(item, schema.get("items", {}), root, f"{path}[{index}]")
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            found.append(f"{path}: shorter than {schema['minLength']}")
        if len(instance) > schema.get("maxLength", len(instance)):
            found.append(f"{path}: longer than {schema['maxLength']}")
        pattern = FORMATS.get(schema.get("format", ""))
        if pattern is not None and not pattern.match(instance):
            found.append(f"{path}: not a {schema['format']}")
    if isinstance(instance, int) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            found.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            found.append(f"{path}: above {schema['maximum']}")
    return found
