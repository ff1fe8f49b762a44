"""pypsrp's CLIXML reader (pinned 0.9.1), giving the same objects at a fraction of the CPU.

A farm's verify-all reads every host's replies under one interpreter lock, and pypsrp's `deserialize` cost
about a quarter of the client's CPU there: for every nested element, a primitive value included, it first
writes the element's whole subtree back to XML text (kept only on complex objects, as `_xml`, which pypsrp
reads from top-level output objects alone), and it builds its table of ~55 known types afresh. Here:
primitives are read directly, a nested element is written back to text only when pypsrp would return that
text (a type it does not know), nested complex objects get no `_xml` (top-level ones still get the message
text, as before), the type table holds constructors (pypsrp's code mutates a metadata object it is given, so
every lookup still gets a fresh one), and a string without any `_x` in it skips the `_xHHHH_` decoding.
tests/test_clixml_read.py keeps the objects equal to pypsrp's own on real replies and on every type.
"""
from __future__ import annotations

import base64
import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from pypsrp import complex_objects as co
from pypsrp import messages
from pypsrp.serializer import Serializer

log = logging.getLogger(__name__)

_TEXT = frozenset({"S", "ToString", "URI", "XD", "SBK"})
_NUMBER = frozenset({"By", "SB", "U16", "I16", "U32", "I32", "U64", "I64"})
_AS_IS = frozenset({"DT", "TS", "D", "Version"})

# The known .NET types, as pypsrp 0.9.1's `deserialize` lists them.
_OBJECTS: dict[str, Any] = {
    "Selected.Microsoft.PowerShell.Commands.GenericMeasureInfo": co.CommandMetadataCount,
    "System.ConsoleColor": co.Color,
    "System.Management.Automation.CommandOrigin": co.CommandOrigin,
    "System.Management.Automation.DebugRecord": messages.DebugRecord,
    "System.Management.Automation.ErrorRecord": messages.ErrorRecordMessage,
    "System.Management.Automation.Host.Coordinates": co.Coordinates,
    "System.Management.Automation.Host.KeyInfo": co.KeyInfoDotNet,
    "System.Management.Automation.Host.Size": co.Size,
    "System.Management.Automation.InformationalRecord": co.InformationalRecord,
    "System.Management.Automation.InformationRecord": messages.InformationRecord,
    "System.Management.Automation.ParameterMetadata": co.ParameterMetadata,
    "System.Management.Automation.ProgressRecordType": co.ProgressRecordType,
    "System.Management.Automation.PSCredential": co.PSCredential,
    "System.Management.Automation.Remoting.RemoteHostMethodId": co.HostMethodIdentifier,
    "System.Management.Automation.Runspaces.ApartmentState": co.ApartmentState,
    "System.Management.Automation.Runspaces.PipelineResultTypes": co.PipelineResultTypes,
    "System.Management.Automation.Runspaces.PSThreadOptions": co.PSThreadOptions,
    "System.Management.Automation.Runspaces.RemoteStreamOptions": co.RemoteStreamOptions,
    "System.Management.Automation.SessionStateEntryVisibility": co.SessionStateEntryVisibility,
    "System.Management.Automation.VerboseRecord": messages.VerboseRecord,
    "System.Management.Automation.WarningRecord": messages.WarningRecord,
    "System.Globalization.CultureInfo": co.CultureInfo,
}
_CONTAINERS: dict[str, Callable[[], co.ObjectMeta]] = {
    "System.Array": co.ListMeta,
    "System.Collections.ArrayList": co.ListMeta,
    "System.Collections.Hashtable": co.DictionaryMeta,
    "System.Collections.Generic.List": co.ListMeta,
    "System.Collections.Queue": co.QueueMeta,
    "System.Collections.Stack": co.StackMeta,
    "System.Management.Automation.PSBoundParametersDictionary": co.DictionaryMeta,
    "System.Management.Automation.PSPrimitiveDictionary": co.DictionaryMeta,
}
_DYNAMIC = frozenset({"System.Management.Automation.PSObject", "System.Object"})
_PRIMITIVES = {
    "System.Management.Automation.PSTypeName": "S", "System.String": "S", "System.Char": "C",
    "System.Boolean": "B", "System.DateTime": "DT", "System.Byte": "By", "System.SByte": "SB",
    "System.UInt16": "U16", "System.Int16": "I16", "System.UInt32": "U32", "System.Int32": "I32",
    "System.UInt64": "U64", "System.Int64": "I64", "System.Single": "Sg", "System.Double": "Db",
    "System.Decimal": "D", "System.Guid": "G", "System.Uri": "URI", "System.Version": "Version",
    "System.Xml.XmlDocument": "XD", "System.Management.Automation.ScriptBlock": "SBK",
    "System.Security.SecureString": "SS",
}


def known_type(name: str) -> co.ObjectMeta | None:
    """A fresh metadata object for a .NET type pypsrp knows, as its table gives it; None for any other."""
    if name in _OBJECTS:
        return co.ObjectMeta("Obj", object=_OBJECTS[name])
    if name in _CONTAINERS:
        return _CONTAINERS[name]()
    if name in _DYNAMIC:
        return co.ObjectMeta("ObjDynamic", object=co.GenericComplexObject)
    if name in _PRIMITIVES:
        return co.ObjectMeta(_PRIMITIVES[name])
    return None


class QuickReader(Serializer):
    """pypsrp's Serializer with a cheaper `deserialize` (same results; see the module's docstring)."""

    def deserialize(self, element: ET.Element | str, metadata: co.ObjectMeta | None = None,
                    clear: bool = True) -> Any:
        if clear:
            self._clear()
        if isinstance(element, str):
            text = element
            try:
                element = ET.fromstring(text)
            except ET.ParseError as err:
                log.warning("Failed to parse data '%s' as XML, return raw xml: %s", text, err)
                return text
            return self._read(element, metadata, text)
        return self._read(element, metadata, None)

    def _deserialize_string(self, value: str | None) -> str:
        if value is not None and "_x" not in value:
            return value  # nothing escaped: pypsrp's UTF-16 round trip would give the same text
        return str(super()._deserialize_string(value))

    def _read(self, element: ET.Element, metadata: co.ObjectMeta | None, text: str | None) -> Any:
        tag = element.tag
        if metadata is not None and metadata.tag == "*":
            metadata.tag = tag  # pypsrp does this before anything else, and its callers reuse the object
        value = element.text
        if tag in _TEXT:
            return self._deserialize_string(value)
        if tag in _NUMBER:
            return int(value)  # type: ignore[arg-type]  # a malformed reply raises, as in pypsrp
        if tag == "Nil":
            return None
        if tag == "B":
            return value.lower() == "true"  # type: ignore[union-attr]
        if tag in _AS_IS:
            return value
        if tag == "Ref":
            return self.obj[element.attrib["RefId"]]
        if tag == "C":
            return chr(int(value))  # type: ignore[arg-type]
        if tag in ("Sg", "Db"):
            return float(value)  # type: ignore[arg-type]
        if tag == "BA":
            return base64.b64decode(value)  # type: ignore[arg-type]
        if tag == "G":
            return uuid.UUID(value)
        if tag == "SS":
            return self._deserialize_secure_string(element)
        return self._read_complex(element, metadata or co.ObjectMeta(tag), text)

    def _read_complex(self, element: ET.Element, metadata: co.ObjectMeta, text: str | None) -> Any:
        obj_types = self._get_types_from_obj(element)
        chosen: co.ObjectMeta | None = metadata
        if type(metadata) is co.ObjectMeta and metadata.object is None:
            if metadata.tag == "Obj" and not obj_types:
                obj_types = ["System.Object"]
            chosen = None
            for obj_type in obj_types:
                chosen = _meta_for(obj_type)
                if chosen is not None:
                    break

        obj: Any
        kind = None if chosen is None else chosen.tag
        if kind == "Obj":
            obj = self._deserialize_obj(element, chosen)  # type: ignore[arg-type]
        elif kind == "ObjDynamic":
            obj = self._deserialize_dynamic_obj(element, chosen)  # type: ignore[arg-type]
        elif kind == "LST":
            obj = self._deserialize_lst(element, chosen)
        elif kind == "QUE":
            obj = self._deserialize_que(element)
        elif kind == "STK":
            obj = self._deserialize_stk(element)
        elif kind == "DCT":
            obj = self._deserialize_dct(element)
        else:
            if chosen is not None:
                log.warning("Unknown metadata tag type '%s', failed to deserialize object", kind)
            obj = text if text is not None else ET.tostring(element, encoding="utf-8", method="xml").decode()

        if element.tag == "Obj":
            self.obj[element.attrib["RefId"]] = obj
        if isinstance(obj, co.ComplexObject) and text is not None:
            obj._xml = text
        return obj


def _meta_for(obj_type: str) -> co.ObjectMeta | None:
    """pypsrp's reading of one type name (Deserialized. prefix, arrays, generic lists and dictionaries)."""
    if obj_type.startswith("Deserialized.System."):
        obj_type = obj_type[13:]
    is_list = False
    if obj_type.endswith("[]"):
        obj_type, is_list = obj_type[:-2], True
    else:
        for prefix in ("System.Collections.Generic.List`1[[", "System.Collections.ObjectModel.Collection`1[[",
                       "System.Collections.ObjectModel.ReadOnlyCollection`1[["):
            if obj_type.startswith(prefix):
                obj_type, is_list = obj_type[len(prefix):-1].split(",")[0], True
                break
        else:
            if obj_type.startswith("System.Collections.Generic.Dictionary`2[["):
                key, value = obj_type[41:-2].split("],[")[:2]
                return co.DictionaryMeta(dict_key_meta=known_type(key.split(",")[0]) or co.ObjectMeta(),
                                         dict_value_meta=known_type(value.split(",")[0]) or co.ObjectMeta())
    meta = known_type(obj_type)
    if meta is not None and is_list:
        return co.ListMeta(list_value_meta=meta)
    return meta
