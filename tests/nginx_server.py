"""Debian's nginx on loopback, as the HTTPS server the device proof talks to in tests (no one here wrote it).

One nginx process, one `server` block per behaviour, each on its own free loopback port. Its prefix, config,
pid file, error log and temp dirs live in the test's own directory; it is stopped by its recorded pid.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ACTIVESYNC_HEADERS = {
    "MS-ASProtocolVersions": "14.1,16.0,16.1",
    "MS-ASProtocolCommands": "Sync,SendMail,SmartForward,SmartReply,GetAttachment,FolderSync,FolderCreate,"
                             "FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,"
                             "Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert",
}
START_TIMEOUT = 10.0


def nginx_binary() -> str | None:
    return shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Block:
    """One `server { … }`: TLS with `cert`/`key`, client certificates checked against `client_ca` as `verify`."""

    name: str
    cert: Path
    key: Path
    client_ca: Path | None
    verify: str  # on | optional | off
    answer: str  # the `location` body: return …, proxy_pass …
    port: int = field(default_factory=free_port)

    def render(self) -> str:
        client = (f"    ssl_client_certificate {self.client_ca};\n" if self.client_ca else "")
        return (f"  server {{\n    listen 127.0.0.1:{self.port} ssl;\n"
                f"    ssl_certificate {self.cert};\n    ssl_certificate_key {self.key};\n"
                f"{client}    ssl_verify_client {self.verify};\n"
                f"    location / {{\n{self.answer}    }}\n  }}\n")


def activesync_answer() -> str:
    headers = "".join(f'      add_header {name} "{value}" always;\n' for name, value in ACTIVESYNC_HEADERS.items())
    return headers + "      return 200;\n"


class Nginx:
    def __init__(self, directory: Path, blocks: list[Block]):
        self.directory = directory
        self.blocks = {block.name: block for block in blocks}
        self.process: subprocess.Popen[bytes] | None = None
        self.error_log = directory / "error.log"

    def url(self, name: str, path: str = "/Microsoft-Server-ActiveSync") -> str:
        return f"https://127.0.0.1:{self.blocks[name].port}{path}"

    def config(self) -> str:
        temp = "".join(f"  {kind}_temp_path {self.directory / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # As root, nginx would hand its worker to `nobody`, who cannot enter a private pytest temp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (f"daemon off;\n{user}worker_processes 1;\npid {self.directory / 'nginx.pid'};\n"
                f"error_log {self.error_log} info;\nevents {{ worker_connections 64; }}\n"
                f"http {{\n  access_log off;\n{temp}  default_type text/plain;\n"
                + "".join(block.render() for block in self.blocks.values()) + "}\n")

    def start(self) -> None:
        binary = nginx_binary()
        assert binary, "nginx is not installed"
        conf = self.directory / "nginx.conf"
        conf.write_text(self.config())
        # -e: errors before the config is read go to our log too, not to /var/log/nginx.
        self.process = subprocess.Popen([binary, "-p", str(self.directory), "-c", str(conf), "-e",
                                         str(self.error_log)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        waiting = set(self.blocks)
        while waiting and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}: {self.log_tail()}")
            for name in list(waiting):
                try:
                    socket.create_connection(("127.0.0.1", self.blocks[name].port), timeout=0.2).close()
                    waiting.discard(name)
                except OSError:
                    pass
            time.sleep(0.02)
        if waiting:
            self.stop()
            raise RuntimeError(f"nginx did not listen for {', '.join(sorted(waiting))}: {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)  # by its pid: the master takes its worker down with it
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
