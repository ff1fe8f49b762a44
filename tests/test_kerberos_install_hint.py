"""Without the `kerberos` extra every Kerberos path says what to install.

Mocked: the absence of the package (a subprocess whose import system hides `gssapi` and `krb5`), because
this machine has the extra installed; the code under test runs unchanged.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HIDE = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('gssapi', 'krb5'):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Hide())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] in ('gssapi', 'krb5') else _find(name, *a)
"""


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", HIDE + code], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ldap_bind_without_gssapi_says_what_to_install():
    out = run("""
from runbook.directory.ldap import LdapDirectory
from runbook.flow.settings import DirectorySettings
settings = DirectorySettings(domain='test.lan', server='dc1.test.lan', port=636, gc_port=3269, tls='ldaps',
                             ca_file=None, bind_user=None)
try:
    LdapDirectory.connect(settings, None)
except Exception as exc:
    print(type(exc).__name__, exc)
""")
    assert out.startswith("DirectoryBindError no directory.bind_user is set, so the bind to dc1.test.lan uses Kerberos")
    assert "pip install 'certauth-runbook[kerberos]'" in out and "libkrb5-dev gcc" in out


def test_status_warning_without_gssapi_says_what_to_install():
    out = run("""
from runbook.checks.auth import ticket_warning
from runbook.inputs.params import parse_params
params = parse_params({'topology': 'tmg-eas', 'domain': 'test.lan', 'directory': {'server': 'dc1.test.lan'},
                       'tmg': {'computer': 'TMG01', 'host': 'tmg01.test.lan'},
                       'eas': [{'computer': 'EAS01', 'host': 'eas01.test.lan'}],
                       'public_name': 'mail.example.com', 'listener': 'EAS Listener'})
print(ticket_warning(params))
""")
    assert "uses Kerberos, which needs the Python package gssapi: pip install 'certauth-runbook[kerberos]'" in out
