"""The SOAP side of the lab WinRM endpoint: [MS-WSMV] names, fault codes, envelopes and faults.

Only XML lives here; what each action does to a shell is `testsupport.wsman.shells`.
"""
from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET

# [MS-WSMV] namespaces, exactly as Windows writes them.
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

TRANSFER_ACTION = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL_ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
RESOURCE_PREFIX = "http://schemas.microsoft.com/powershell/"
CONFIGURATIONS = {"Microsoft.PowerShell": "default", "Microsoft.Exchange": "exchange"}

COMMAND_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
COMMAND_RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/Terminate"
SIGNAL_PS_CTRL_C = "powershell/signal/ctrl_c"

# WS-Man fault codes (winerror.h) that pypsrp and PowerShell react to.
ERROR_WSMAN_OPERATION_TIMEDOUT = 0x80338029  # 2150858793: pypsrp retries the Receive
ERROR_WSMAN_INVALID_SELECTORS = 0x8033805B
ERROR_WSMAN_ACTION_NOT_SUPPORTED = 0x803381A0
ERROR_WSMAN_INVALID_RESOURCE_URI = 0x80338000


class WSManFault(Exception):
    """A WS-Man fault to send back (HTTP 500 with a SOAP Fault body)."""

    def __init__(self, code: int, subcode: str, reason: str):
        super().__init__(reason)
        self.code, self.subcode, self.reason = code, subcode, reason


# ---------------------------------------------------------------- SOAP helpers
def child_text(parent: ET.Element | None, path: str) -> str:
    if parent is None:
        return ""
    element = parent.find(path, NS)
    return (element.text or "").strip() if element is not None else ""


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?$")


def parse_duration(text: str) -> float | None:
    match = _DURATION.match(text or "")
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def soap_envelope(action: str, relates_to: str, content: ET.Element | None) -> bytes:
    s, wsa = NS["s"], NS["wsa"]
    env = ET.Element(f"{{{s}}}Envelope")
    hdr = ET.SubElement(env, f"{{{s}}}Header")
    ET.SubElement(hdr, f"{{{wsa}}}Action").text = action
    ET.SubElement(hdr, f"{{{wsa}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(hdr, f"{{{wsa}}}RelatesTo").text = relates_to
    ET.SubElement(hdr, f"{{{wsa}}}To").text = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    body = ET.SubElement(env, f"{{{s}}}Body")
    if content is not None:
        for child in list(content):
            body.append(child)
    return ET.tostring(env, encoding="utf-8", xml_declaration=False)


def fault_envelope(message_id: str, fault: WSManFault, machine: str) -> bytes:
    s, wsa, wf = NS["s"], NS["wsa"], NS["wsmanfault"]
    env = ET.Element(f"{{{s}}}Envelope")
    hdr = ET.SubElement(env, f"{{{s}}}Header")
    ET.SubElement(hdr, f"{{{wsa}}}Action").text = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
    ET.SubElement(hdr, f"{{{wsa}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(hdr, f"{{{wsa}}}RelatesTo").text = message_id
    body = ET.SubElement(env, f"{{{s}}}Body")
    f = ET.SubElement(body, f"{{{s}}}Fault")
    code = ET.SubElement(f, f"{{{s}}}Code")
    ET.SubElement(code, f"{{{s}}}Value").text = "s:Receiver"
    sub = ET.SubElement(code, f"{{{s}}}Subcode")
    ET.SubElement(sub, f"{{{s}}}Value").text = fault.subcode
    reason = ET.SubElement(f, f"{{{s}}}Reason")
    ET.SubElement(reason, f"{{{s}}}Text", {f"{{{NS['xml']}}}lang": "en-US"}).text = fault.reason
    detail = ET.SubElement(f, f"{{{s}}}Detail")
    wsman_fault = ET.SubElement(
        detail, f"{{{wf}}}WSManFault", {"Code": str(fault.code), "Machine": machine}
    )
    ET.SubElement(wsman_fault, f"{{{wf}}}Message").text = fault.reason
    return ET.tostring(env, encoding="utf-8", xml_declaration=False)
