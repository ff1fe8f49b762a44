"""Each distinct pipeline packed once, for all the hosts it goes to.

A farm's verify-all sends every host of a kind the same pipeline (the same function files, the same call, the
same values); pypsrp rebuilds and writes its ≈50 KB of XML for each host, about a fifth of the client's CPU
there. Here a pipeline's message body is kept under a key made of everything pypsrp serializes: every
attribute of the message's objects, recursively, each value with its type, so two pipelines share a body
only when pypsrp would have written the same bytes for both. Anything the key cannot describe exactly (an
object of another kind, a host UI) is packed afresh, as before. Only the 40-byte header (the pool's and
the pipeline's ids) differs per host.
"""
from __future__ import annotations

import struct
import uuid
from typing import Any

from pypsrp.complex_objects import ComplexObject
from pypsrp.messages import CreatePipeline, Destination, Message
from pypsrp.powershell import Fragment, Fragmenter
from pypsrp.serializer import Serializer, TaggedValue

KEPT = 32  # distinct pipelines kept (a farm sends a handful; a bound keeps odd runs from growing it)
_HEADER = 40  # destination, message type, pool id, pipeline id
# Fixed by the class (and, for a Command, by its protocol_version, which is part of the key).
_METADATA = frozenset({"_extended_properties", "_adapted_properties", "_property_sets", "_types", "_xml"})


class Unkeyable(Exception):
    """A value the key cannot describe exactly."""


def pipeline_key(data: Any) -> tuple[Any, ...] | None:
    """The key of a CreatePipeline message, or None when it has to be packed afresh."""
    if not isinstance(data, CreatePipeline):
        return None
    try:
        return _key(data)
    except Unkeyable:
        return None


def _key(value: Any) -> tuple[Any, ...]:
    kind = type(value)
    if value is None or kind in (bool, int, str, bytes):
        return kind.__name__, value  # the type keeps True apart from 1
    if kind is float:
        return "float", repr(value)  # keeps 0.0 apart from -0.0
    if kind in (list, tuple):
        return kind.__name__, tuple(_key(item) for item in value)
    if kind is dict:
        return "dict", tuple((_key(k), _key(v)) for k, v in value.items())
    if kind is TaggedValue:
        return "tagged", value.tag, _key(value.value)
    if isinstance(value, ComplexObject):
        return kind.__qualname__, tuple(sorted((name, _key(item)) for name, item in vars(value).items()
                                               if name not in _METADATA))
    raise Unkeyable(kind.__name__)


class PackingFragmenter(Fragmenter):
    """pypsrp's Fragmenter, taking a pipeline's packed body from `packed` when the same one was packed before."""

    def __init__(self, original: Fragmenter, packed: dict[Any, bytes]):
        self.__dict__.update(original.__dict__)  # its buffers, counter and sizes as they stand
        self._packed = packed

    def fragment(self, data: ComplexObject, rpid: str, pid: str | None = None,
                 remaining_size: int | None = None) -> list[bytes]:
        key = pipeline_key(data)
        if key is None:
            return super().fragment(data, rpid, pid, remaining_size)
        body = self._packed.get(key)
        if body is None:
            body = Message(Destination.SERVER, rpid, pid, data, self.serializer).pack()[_HEADER:]
            if len(self._packed) >= KEPT:
                self._packed.clear()
            self._packed[key] = body
        return self._split(header(CreatePipeline.MESSAGE_TYPE, rpid, pid) + body, remaining_size)

    def _split(self, msg_data: bytes, remaining_size: int | None) -> list[bytes]:
        """pypsrp 0.9.1's Fragmenter.fragment, from the packed message on."""
        fragments: list[bytes] = []
        fragment_id, start = 0, True
        if remaining_size is not None:
            first, msg_data = msg_data[:remaining_size], msg_data[remaining_size:]
            fragments.append(Fragment(self.outgoing_counter, fragment_id, first, start, msg_data == b"").pack())
            fragment_id, start = fragment_id + 1, False
        for piece, end in self._byte_iterator(msg_data, self.max_size):
            fragments.append(Fragment(self.outgoing_counter, fragment_id, piece, start, end).pack())
            fragment_id, start = fragment_id + 1, False
        self.outgoing_counter += 1
        return fragments


def header(message_type: int, rpid: str | None, pid: str | None) -> bytes:
    """Message.pack's header: destination and type, then both ids in .NET's little-endian GUID form."""
    empty = uuid.UUID(bytes=b"\x00" * 16)
    pool = uuid.UUID(rpid) if rpid is not None else empty
    pipeline = uuid.UUID(pid) if pid is not None else empty
    return struct.pack("<I", Destination.SERVER) + struct.pack("<I", message_type) + pool.bytes_le + pipeline.bytes_le


def pack_once(pool: Any, serializer: Serializer, packed: dict[Any, bytes]) -> None:
    """Have `pool` fragment with a PackingFragmenter sharing `packed`, serializing with `serializer`."""
    # pypsrp keeps its fragmenter in this attribute (no parameter takes one).
    pool._fragmenter = PackingFragmenter(pool._fragmenter, packed)
    pool._fragmenter.serializer = serializer
