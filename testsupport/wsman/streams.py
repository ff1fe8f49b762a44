"""PowerShell values and stream records as the lab endpoint exchanges them through psrpcore.

Going out: plain Python reply items become PSCustomObjects, warnings and errors become
records, a `throw` becomes a Failed pipeline. Coming in: psrpcore's deserialized
parameters become plain Python again.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    NETException,
    PSCustomObject,
    PSInt,
    PSInt64,
    PSInvocationState,
    PSNoteProperty,
    PSRPMessageType,
    WarningRecord,
)


def to_psobject(value: Any) -> Any:
    """Plain Python → what psrpcore serializes like PowerShell would send it.

    dict → PSCustomObject (keys as note properties, in order); list/tuple → array;
    ints outside Int32 → Int64; other scalars unchanged.
    """
    if isinstance(value, dict):
        obj = PSCustomObject()
        for key, item in value.items():
            obj.PSObject.extended_properties.append(PSNoteProperty(str(key), value=to_psobject(item)))
        return obj
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_psobject(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return PSInt64(value) if not (PSInt.MinValue <= value <= PSInt.MaxValue) else int(value)
    return value


def to_plain(value: Any) -> Any:
    """psrpcore's deserialized objects → plain dicts/lists/str/int/float/bool/None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {str(to_plain(k)): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, deque)):
        return [to_plain(v) for v in value]
    ps = getattr(value, "PSObject", None)
    if ps is not None:
        props = list(ps.adapted_properties) + list(ps.extended_properties)
        if props:
            return {p.name: to_plain(p.get_value(value)) for p in props}
        if ps.to_string is not None:
            return str(ps.to_string)
    return value


def string_values(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from string_values(k)
            yield from string_values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from string_values(v)


class ScriptRefused(Exception):
    """The endpoint refuses the pipeline (terminating error)."""


class _NullOutput:
    """Serializes to `<Nil />`: $null in the output stream, as PowerShell sends it."""

    @classmethod
    def ToPSObjectForRemoting(cls, instance: Any, **kwargs: Any) -> None:  # noqa: N802 - psrpcore's hook name
        return None


NULL_OUTPUT = _NullOutput()


def write_warning(pipeline: Any, message: str) -> None:
    """A WarningRecord that carries its ToString, as PowerShell's serializer writes it."""
    record = WarningRecord(Message=message)
    record.PSObject.to_string = message
    pipeline.prepare_message(record, message_type=PSRPMessageType.WarningRecord)


def fail_pipeline(pipeline: Any, message: str) -> None:
    """Terminate a running pipeline with an error record (PowerShell's `throw`)."""
    record = ErrorRecord(
        Exception=NETException(Message=message),
        CategoryInfo=ErrorCategoryInfo(Category=ErrorCategory.OperationStopped, Reason="RuntimeException"),
        FullyQualifiedErrorId="RuntimeException",
    )
    # psrpcore 0.3 has no public "fail" on ServerPipeline; _change_state is what complete()/stop() use.
    pipeline._change_state(PSInvocationState.Failed, error=record)


def pipeline_statements(metadata: Any) -> list[list[Any]]:
    statements: list[list[Any]] = [[]]
    for command in getattr(metadata, "commands", []) or []:
        statements[-1].append(command)
        if command.end_of_statement:
            statements.append([])
    return [s for s in statements if s]
