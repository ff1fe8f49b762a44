"""Values across the PowerShell wire: parameters as pypsrp should tag them, results and error records as plain data."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pypsrp.complex_objects import ComplexObject, GenericComplexObject
from pypsrp.serializer import TaggedValue

_INT32 = (-(2**31), 2**31 - 1)


def wire_value(value: Any) -> Any:
    """A parameter value as pypsrp should serialize it: pypsrp tags every int as Int32, so wider ints go as Int64."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _INT32[0] <= value <= _INT32[1] else TaggedValue("I64", int(value))
    if isinstance(value, dict):
        return {k: wire_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_value(v) for v in value]
    return value


def record_text(record: Any) -> str:
    """An ErrorRecord as an operator reads it (PowerShell's ToString, else the exception's message)."""
    text = str(record) if record is not None else ""
    if text and text != "None":
        return text
    exc = getattr(record, "exception", None)
    for props in (getattr(exc, "adapted_properties", None), getattr(exc, "extended_properties", None)):
        if props and props.get("Message"):
            return str(props["Message"])
    return str(getattr(record, "message", None) or "unknown error")


def plain_value(value: Any) -> Any:
    """pypsrp's deserialized objects → plain dicts/lists/scalars, property names as sent."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, dt.datetime, dt.timedelta)):
        return value
    if isinstance(value, dict):
        return {str(plain_value(k)): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, GenericComplexObject):
        props = {**value.adapted_properties, **value.extended_properties}
        if props:
            return {str(k): plain_value(v) for k, v in props.items()}
        if value.property_sets:
            return [plain_value(v) for v in value.property_sets] if len(value.property_sets) > 1 else plain_value(
                value.property_sets[0]
            )
        return value.to_string if value.to_string is not None else {}
    if isinstance(value, ComplexObject):
        return str(value)
    return value
