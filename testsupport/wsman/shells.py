"""The WS-Man shell resource of the lab endpoint and the PSRP pipelines run in it.

`WSManShells` holds the Create/Command/Send/Receive/Signal/Delete actions and the psrpcore
runspace pool behind each shell; `WSManEndpoint` inherits them and supplies the state they
use (its shell table, lock, counters and `dispatch`).
"""
from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psrpcore
from psrpcore.types import (
    ErrorCategory,
    ErrorCategoryInfo,
    NETException,
    PSInvocationState,
    PSRPMessageType,
    RunspacePoolState,
)

from runbook.flow.ports import HostReply
from testsupport.wsman.envelopes import (
    COMMAND_DONE,
    COMMAND_RUNNING,
    CONFIGURATIONS,
    ERROR_WSMAN_INVALID_RESOURCE_URI,
    ERROR_WSMAN_INVALID_SELECTORS,
    ERROR_WSMAN_OPERATION_TIMEDOUT,
    NS,
    RESOURCE_PREFIX,
    SIGNAL_TERMINATE,
    WSManFault,
    child_text,
)
from testsupport.wsman.streams import (
    NULL_OUTPUT,
    ScriptRefused,
    fail_pipeline,
    pipeline_statements,
    string_values,
    to_plain,
    to_psobject,
    write_warning,
)

log = logging.getLogger(__name__)

_CHUNK = 48 * 1024  # PSRP bytes per outgoing chunk: far below any MaxEnvelopeSize once base64'd
_MAX_RECEIVE_WAIT = 60.0


@dataclass
class Shell:
    shell_id: str
    configuration: str
    endpoint: str  # "default" | "exchange"
    pool: psrpcore.ServerRunspacePool
    cond: threading.Condition = field(default_factory=threading.Condition)
    outbox: dict[uuid.UUID | None, deque[bytes]] = field(default_factory=dict)
    done: set[uuid.UUID] = field(default_factory=set)
    closed: bool = False


class WSManShells:
    """The shell actions of `WSManEndpoint`, which provides the attributes declared here."""

    host_name: str
    username: str
    dispatch: Callable[[str, str, dict, str], HostReply]
    scripts_seen: list[str]
    calls: list[tuple[str, dict]]
    invocations: list[tuple[str, str, dict]]
    shells_opened: list[str]
    _allowed_scripts: frozenset[str]
    _shells: dict[str, Shell]
    _lock: threading.Lock
    _stopping: threading.Event

    @property
    def url(self) -> str:  # WSManEndpoint's; declared so these actions type-check on their own
        raise NotImplementedError

    def _shell(self, selectors: dict[str, str]) -> Shell:
        shell_id = selectors.get("ShellId", "").upper()
        with self._lock:
            shell = self._shells.get(shell_id)
        if shell is None or shell.closed:
            raise WSManFault(
                ERROR_WSMAN_INVALID_SELECTORS, "w:InvalidSelectors",
                "The request for the Windows Remote Shell with ShellId "
                f"{shell_id} failed because the shell was not found on the server.",
            )
        return shell

    def _create(self, resource_uri: str, body: ET.Element | None) -> ET.Element:
        rsp = NS["rsp"]
        configuration = resource_uri[len(RESOURCE_PREFIX):] if resource_uri.startswith(RESOURCE_PREFIX) else ""
        if configuration not in CONFIGURATIONS:
            raise WSManFault(
                ERROR_WSMAN_INVALID_RESOURCE_URI, "w:InvalidResourceURI",
                f"The WS-Management service cannot process the request: no session configuration "
                f"{resource_uri!r} on {self.host_name}.",
            )
        shell_el = body.find("rsp:Shell", NS) if body is not None else None
        creation = shell_el.find("pwsh:creationXml", NS) if shell_el is not None else None
        if shell_el is None or creation is None or not (creation.text or "").strip():
            raise WSManFault(ERROR_WSMAN_INVALID_RESOURCE_URI, "w:SchemaValidationError",
                             "Missing rsp:Shell/creationXml.")
        shell_id = (shell_el.attrib.get("ShellId") or str(uuid.uuid4())).upper()
        pool = psrpcore.ServerRunspacePool()
        shell = Shell(
            shell_id=shell_id, configuration=configuration, endpoint=CONFIGURATIONS[configuration], pool=pool
        )
        with shell.cond:
            self._feed(shell, base64.b64decode(creation.text or ""), None)
        with self._lock:
            self._shells[shell_id] = shell
        self.shells_opened.append(configuration)

        wst, wsa, wsman = NS["wst"], NS["wsa"], NS["wsman"]
        # pypsrp reads the selector set under wst:ResourceCreated; rsp:Shell (as Windows sends it) follows.
        container = ET.Element("container")
        created = ET.SubElement(container, f"{{{wst}}}ResourceCreated")
        ET.SubElement(created, f"{{{wsa}}}Address").text = self.url
        ref = ET.SubElement(created, f"{{{wsa}}}ReferenceParameters")
        ET.SubElement(ref, f"{{{wsman}}}ResourceURI").text = resource_uri
        sel = ET.SubElement(ref, f"{{{wsman}}}SelectorSet")
        ET.SubElement(sel, f"{{{wsman}}}Selector", {"Name": "ShellId"}).text = shell_id
        out_shell = ET.SubElement(container, f"{{{rsp}}}Shell")
        ET.SubElement(out_shell, f"{{{rsp}}}ShellId").text = shell_id
        ET.SubElement(out_shell, f"{{{rsp}}}ResourceUri").text = resource_uri
        ET.SubElement(out_shell, f"{{{rsp}}}Owner").text = self.username
        ET.SubElement(out_shell, f"{{{rsp}}}ClientIP").text = "127.0.0.1"
        ET.SubElement(out_shell, f"{{{rsp}}}IdleTimeOut").text = "PT7200.000S"
        ET.SubElement(out_shell, f"{{{rsp}}}InputStreams").text = "stdin pr"
        ET.SubElement(out_shell, f"{{{rsp}}}OutputStreams").text = "stdout"
        return container

    def _command(self, selectors: dict[str, str], body: ET.Element | None) -> ET.Element:
        shell = self._shell(selectors)
        line = body.find("rsp:CommandLine", NS) if body is not None else None
        if line is None:
            raise WSManFault(ERROR_WSMAN_INVALID_RESOURCE_URI, "w:SchemaValidationError", "Missing rsp:CommandLine.")
        command_id = (line.attrib.get("CommandId") or str(uuid.uuid4())).upper()
        pipeline_id = uuid.UUID(command_id)
        data = b"".join(base64.b64decode(a.text or "") for a in line.findall("rsp:Arguments", NS))
        with shell.cond:
            psrpcore.ServerPipeline(shell.pool, pipeline_id)
            shell.outbox.setdefault(pipeline_id, deque())
            self._feed(shell, data, pipeline_id)
        container = ET.Element("container")
        resp = ET.SubElement(container, f"{{{NS['rsp']}}}CommandResponse")
        ET.SubElement(resp, f"{{{NS['rsp']}}}CommandId").text = command_id
        return container

    def _send(self, selectors: dict[str, str], body: ET.Element | None) -> ET.Element:
        shell = self._shell(selectors)
        streams = body.findall("rsp:Send/rsp:Stream", NS) if body is not None else []
        with shell.cond:
            for stream in streams:
                command_id = stream.attrib.get("CommandId")
                pipeline_id = uuid.UUID(command_id) if command_id else None
                self._feed(shell, base64.b64decode(stream.text or ""), pipeline_id)
        container = ET.Element("container")
        ET.SubElement(container, f"{{{NS['rsp']}}}SendResponse")
        return container

    def _receive(self, selectors: dict[str, str], body: ET.Element | None, timeout: float) -> ET.Element:
        shell = self._shell(selectors)
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS) if body is not None else None
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        target = uuid.UUID(command_id) if command_id else None
        deadline = time.monotonic() + min(timeout, _MAX_RECEIVE_WAIT)
        chunks: list[bytes] = []
        done = False
        with shell.cond:
            if target is not None and target not in shell.outbox:
                raise WSManFault(
                    ERROR_WSMAN_INVALID_SELECTORS, "w:InvalidSelectors",
                    f"The request for the command {command_id} failed because the command was not found.",
                )
            while True:
                queue = shell.outbox.get(target)
                if queue:
                    size = 0
                    while queue and (not chunks or size + len(queue[0]) <= 2 * _CHUNK):
                        chunk = queue.popleft()
                        chunks.append(chunk)
                        size += len(chunk)
                    done = target is not None and target in shell.done and not queue
                    break
                if target is not None and target in shell.done:
                    done = True
                    break
                remaining = deadline - time.monotonic()
                if shell.closed or self._stopping.is_set():
                    raise WSManFault(
                        ERROR_WSMAN_INVALID_SELECTORS, "w:InvalidSelectors", "The shell was closed on the server."
                    )
                if remaining <= 0:
                    raise WSManFault(
                        ERROR_WSMAN_OPERATION_TIMEDOUT, "w:TimedOut",
                        "The WS-Management service cannot complete the operation within the time specified "
                        "in OperationTimeout.",
                    )
                shell.cond.wait(remaining)
        rsp = NS["rsp"]
        container = ET.Element("container")
        resp = ET.SubElement(container, f"{{{rsp}}}ReceiveResponse")
        for chunk in chunks:
            attrs = {"Name": "stdout"}
            if command_id:
                attrs["CommandId"] = command_id
            ET.SubElement(resp, f"{{{rsp}}}Stream", attrs).text = base64.b64encode(chunk).decode()
        if command_id:
            state = ET.SubElement(
                resp, f"{{{rsp}}}CommandState",
                {"CommandId": command_id, "State": COMMAND_DONE if done else COMMAND_RUNNING},
            )
            if done:
                ET.SubElement(state, f"{{{rsp}}}ExitCode").text = "0"
        return container

    def _signal(self, selectors: dict[str, str], body: ET.Element | None) -> ET.Element:
        shell = self._shell(selectors)
        signal = body.find("rsp:Signal", NS) if body is not None else None
        code = child_text(signal, "rsp:Code") if signal is not None else ""
        command_id = signal.attrib.get("CommandId") if signal is not None else None
        if command_id:
            pipeline_id = uuid.UUID(command_id)
            with shell.cond:
                pipeline = shell.pool.pipeline_table.get(pipeline_id)
                if pipeline is not None and pipeline.state == PSInvocationState.Running:
                    pipeline.stop()  # PipelineState Stopped is queued for the client
                    shell.done.add(pipeline_id)
                if code == SIGNAL_TERMINATE and pipeline is not None:
                    try:
                        pipeline.close()
                    except psrpcore.PSRPCoreError:
                        shell.pool.pipeline_table.pop(pipeline_id, None)
                    shell.outbox.pop(pipeline_id, None)
                    shell.done.discard(pipeline_id)
                self._drain(shell)
        container = ET.Element("container")
        ET.SubElement(container, f"{{{NS['rsp']}}}SignalResponse")
        return container

    def _delete(self, selectors: dict[str, str]) -> ET.Element | None:
        shell = self._shell(selectors)
        with self._lock:
            self._shells.pop(shell.shell_id, None)
        with shell.cond:
            shell.closed = True
            for pipeline in list(shell.pool.pipeline_table.values()):
                if pipeline.state == PSInvocationState.Running:
                    pipeline.stop()
                shell.pool.pipeline_table.pop(pipeline.pipeline_id, None)
            if shell.pool.state == RunspacePoolState.Opened:
                shell.pool.close()
            shell.cond.notify_all()
        return None

    # ------------------------------------------------------------ PSRP
    def _feed(self, shell: Shell, data: bytes, pipeline_id: uuid.UUID | None) -> None:
        """Give psrpcore the client's bytes and act on every complete message. Caller holds shell.cond."""
        pool = shell.pool
        pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pipeline_id))
        while True:
            try:
                event = pool.next_event()
            except Exception as err:  # malformed PSRP from the client
                log.warning("%s: bad PSRP data: %s", self.host_name, err)
                raise WSManFault(ERROR_WSMAN_INVALID_RESOURCE_URI, "w:InternalError",
                                 f"Invalid PSRP data: {err}") from err
            if event is None:
                break
            if isinstance(event, psrpcore.CreatePipelineEvent):
                self._start_pipeline(shell, event.pipeline_id)
            elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
                pool.runspace_availability_response(event.ci, 1)
            elif isinstance(event, (psrpcore.SetMaxRunspacesEvent, psrpcore.SetMinRunspacesEvent)):
                pool.runspace_availability_response(event.ci, True)
            elif isinstance(event, psrpcore.ResetRunspaceStateEvent):
                pool.runspace_availability_response(event.ci, True)
        self._drain(shell)

    def _drain(self, shell: Shell) -> None:
        """Move psrpcore's queued fragments to the per-target outboxes. Caller holds shell.cond."""
        while True:
            payload = shell.pool.data_to_send(_CHUNK)
            if payload is None:
                break
            shell.outbox.setdefault(payload.pipeline_id, deque()).append(payload.data)
        shell.cond.notify_all()

    def _start_pipeline(self, shell: Shell, pipeline_id: uuid.UUID) -> None:
        pipeline = shell.pool.pipeline_table[pipeline_id]
        pipeline.start()
        statements = pipeline_statements(pipeline.metadata)
        thread = threading.Thread(
            target=self._run_pipeline, args=(shell, pipeline, statements),
            name=f"wsman-{self.host_name}-pipeline", daemon=True,
        )
        thread.start()

    def _run_pipeline(self, shell: Shell, pipeline: Any, statements: list[list[Any]]) -> None:
        replies: list[HostReply] = []
        failure: str | None = None
        try:
            for statement in statements:
                if len(statement) != 1:
                    raise ScriptRefused("the lab endpoint runs one command per statement (no '|' pipelines)")
                command = statement[0]
                if command.is_script:
                    self._accept_script(shell, str(command.command_text))
                    continue
                name = str(command.command_text)
                params: dict[str, Any] = {}
                for param_name, param_value in command.parameters:
                    if param_name is None:
                        raise ScriptRefused(f"{name}: positional arguments are not supported; name every parameter")
                    params[str(param_name)] = to_plain(param_value)
                self.calls.append((name, params))
                self.invocations.append((shell.endpoint, name, params))
                reply = self.dispatch(self.host_name, name, params, shell.endpoint)
                if not isinstance(reply, HostReply):
                    raise TypeError(f"dispatch returned {type(reply).__name__}, not HostReply")
                replies.append(reply)
        except ScriptRefused as refused:
            failure = str(refused)
        except TimeoutError:
            return  # the simulated host "hangs": no answer ever comes, the client's own timeout must fire
        except Exception as exc:  # the simulated host threw: a terminating error, as PowerShell's `throw`
            failure = str(exc) or type(exc).__name__
        with shell.cond:
            if shell.closed or pipeline.state != PSInvocationState.Running:
                return  # stopped (ctrl_c / timeout) or shell gone: the result is dropped, as on Windows
            for reply in replies:
                for item in reply.output:
                    if item is None:  # psrpcore would send an empty message, which pypsrp cannot parse
                        pipeline.prepare_message(NULL_OUTPUT, message_type=PSRPMessageType.PipelineOutput)
                    else:
                        pipeline.write_output(to_psobject(item))
                for message in reply.errors:
                    pipeline.write_error(
                        NETException(Message=str(message)),
                        ErrorCategoryInfo(Category=ErrorCategory.NotSpecified, Reason="WriteErrorException"),
                        fully_qualified_error_id="Microsoft.PowerShell.Commands.WriteErrorException",
                    )
                for message in reply.warnings:
                    write_warning(pipeline, str(message))
            if failure is None:
                pipeline.complete()
            else:
                fail_pipeline(pipeline, failure)
            shell.done.add(pipeline.pipeline_id)
            self._drain(shell)

    def _accept_script(self, shell: Shell, text: str) -> None:
        self.scripts_seen.append(text)
        if shell.endpoint == "exchange":
            raise ScriptRefused("The syntax is not supported by this runspace. This can occur if the runspace is in "
                           "no-language mode (Exchange accepts one cmdlet per pipeline, no scripts).")
        if self._allowed_scripts:
            if text not in self._allowed_scripts:
                raise ScriptRefused("script text refused: it is not one of the function files shipped in "
                                    "runbook/hosts/ps")
            return
        for _, params in list(self.calls):
            for value in string_values(params):
                if len(value) >= 4 and value in text:
                    raise ScriptRefused("script text refused: it contains a parameter value")
