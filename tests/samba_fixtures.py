"""pytest fixtures for a real Samba AD DC (see tests/samba_dc.py). Register with
`pytest_plugins = ["tests.samba_fixtures"]` in tests/conftest.py.

* `samba_template` (session): provisioned + seeded once per test run.
* `samba_dc` (module): a private copy of the template, started for the module, stopped after it.
* `unrelated_ca_file`: a CA certificate that did not sign the DC's certificate.

Tests that use `samba_dc`/`samba_template` are marked `slow` automatically (mark the module too,
`pytestmark = pytest.mark.slow`, so `-m slow` selection is obvious when reading the file).

When the machine cannot run a DC (not root, samba not installed) the tests are skipped with the
reason, unless RUNBOOK_REQUIRE_SAMBA=1 is set (CI sets it): then they fail, so a broken CI image
cannot silently skip the real-directory tests. RUNBOOK_KEEP_SAMBA=1 keeps each module's DC
directory (logs, databases) after the run for debugging.
"""
from __future__ import annotations

import fcntl
import os
import shutil

import pytest

from tests.samba_dc import SambaDC, SambaTemplate, missing_prerequisites, write_ca_file

REQUIRE_ENV = "RUNBOOK_REQUIRE_SAMBA"
KEEP_ENV = "RUNBOOK_KEEP_SAMBA"
_SAMBA_FIXTURES = {"samba_dc", "samba_template"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _SAMBA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def samba_template(tmp_path_factory) -> SambaTemplate:
    reason = missing_prerequisites()
    if reason:
        if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
            pytest.fail(f"{REQUIRE_ENV} is set but the Samba DC cannot run here: {reason}", pytrace=False)
        pytest.skip(reason)
    return SambaTemplate.build(tmp_path_factory.mktemp("samba-template") / "dc")


# One loopback IP (and fixed LDAP ports) serves one DC at a time on this machine: two test runs at once
# (two developers, or a developer and CI) take turns for the DC instead of colliding on the ports.
MACHINE_LOCK = "/tmp/certauth-runbook-samba-dc.lock"


@pytest.fixture(scope="module")
def samba_dc(samba_template: SambaTemplate, tmp_path_factory):
    directory = tmp_path_factory.mktemp("samba-dc") / "dc"
    dc: SambaDC = samba_template.instance(directory)
    with open(MACHINE_LOCK, "a+") as machine_lock:
        fcntl.flock(machine_lock, fcntl.LOCK_EX)
        dc.start()
        try:
            yield dc
        finally:
            dc.stop()
            if os.environ.get(KEEP_ENV, "") in ("", "0"):
                shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def unrelated_ca_file(tmp_path) -> str:
    return str(write_ca_file(tmp_path / "unrelated-ca.pem"))
