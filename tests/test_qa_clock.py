"""The broker's TLS certificates judged on a device's clock, which is off until the device's first sync (the clock
reply comes over that very broker). Checked with OpenSSL itself (`openssl verify -attime`), the library the device's
MQTT client verifies with. Each test fails on the defect it names."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from provisioning.server import tls

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def verifies_at(files: tls.TlsFiles, when: float) -> bool:
    proc = subprocess.run(["openssl", "verify", "-attime", str(int(when)), "-CAfile", str(files.ca_cert),
                           str(files.cert)], capture_output=True, text=True, timeout=30)
    return proc.returncode == 0 and proc.stdout.strip().endswith("OK")


DAY = 86400


@pytest.mark.parametrize("device_clock", [lambda now: now - 600, lambda now: now - 3 * DAY, lambda now: 30 * DAY,
                                          lambda now: now + 400 * DAY, lambda now: now + 20 * 365 * DAY],
                         ids=["10 min slow", "3 days slow", "booted in 1970", "400 days later", "20 years later"])
def test_a_device_clock_off_by_minutes_or_years_still_verifies_the_broker(tmp_path, device_clock):
    """Before: valid from 5 minutes before `provision serve --tls` first ran, for 365 days. A handheld 10 minutes
    slow (or booted in 1970) got "certificate is not yet valid" and could not log in, so never learned the time;
    400 days later every device got "certificate has expired"."""
    files = tls.ensure(tmp_path / "tls", ["127.0.0.1"])
    assert verifies_at(files, device_clock(time.time()))


def test_an_expired_older_set_is_made_again(tmp_path, monkeypatch):
    """A set an older version made (365 days) that has run out is replaced, not served expired for ever."""
    monkeypatch.setattr(tls, "NOT_BEFORE", tls.dt.datetime(2020, 1, 1, tzinfo=tls.dt.timezone.utc))
    monkeypatch.setattr(tls, "NOT_AFTER", tls.dt.datetime(2021, 1, 1, tzinfo=tls.dt.timezone.utc))
    old = tls.ensure(tmp_path / "tls", ["127.0.0.1"])
    old_ca = old.ca_cert.read_bytes()
    assert not verifies_at(old, time.time())
    monkeypatch.undo()
    new = tls.ensure(tmp_path / "tls", ["127.0.0.1"])
    assert new.ca_cert.read_bytes() != old_ca and verifies_at(new, time.time())
    assert Path(new.key).stat().st_mode & 0o077 == 0
