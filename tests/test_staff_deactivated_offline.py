"""A door steward deactivated by the organiser while the door is offline: the entries she made before the door
learnt of it happened (people went in). The server records them, counted like any entry, and flags them for the
organiser ("staff member … deactivated at …": `server staff actions`, `server device uploads`); they are not
refused. Real `provision serve`, mosquitto and `server serve`, through the public commands."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import tg
from tests.test_qa_skew import _event_now, tg_at
from tests.test_qa_walks import _door, _sync

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _lea_at_the_door(tmp_path):
    """The organiser's home (an event on now, its payloads) and Léa Martin, a door steward with PIN 1234 (her id)."""
    home = tmp_path / "home"
    home.mkdir()
    payloads = _event_now(home)
    lea = json.loads(tg(home, "server", "staff", "add", "--name", "Léa Martin", "--role", "door", "--pin", "--json",
                        stdin="1234\n").stdout)["staff_id"]
    return home, payloads, lea


def test_an_entry_by_a_steward_deactivated_while_the_door_was_offline_is_recorded_and_flagged(tmp_path):
    home, payloads, lea = _lea_at_the_door(tmp_path)
    with _door(home):
        tg(home, "agent", "login", "--staff", "Léa Martin", "--pin", stdin="1234\n")
        tg(home, "server", "staff", "deactivate", lea)            # the door does not sync: it does not know yet
        assert json.loads(tg(home, "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
        assert json.loads(tg(home, "server", "refusals", "--json").stdout) == []
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["refused_uploads"] == []
        assert json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1
        (entry,) = [a for a in json.loads(tg(home, "server", "staff", "actions", "--json").stdout)
                    if a["kind"] == "entry"]
        assert entry["staff"] == lea
        assert entry["flag"].startswith(f"staff member Léa Martin ({lea}) deactivated at "), entry
        assert f"FLAGGED: staff member Léa Martin ({lea}) deactivated at" in tg(home, "server", "staff", "actions").stdout
        device = json.loads((home / "device" / "credentials.json").read_text())["device_id"]
        (upload,) = json.loads(tg(home, "server", "device", "uploads", device, "--json").stdout)
        assert upload["flag"] == entry["flag"]
        again = tg(home, "agent", "login", "--staff", "Léa Martin", "--pin", stdin="1234\n", ok=False)
        assert again.returncode != 0 and "deactivated" in again.stderr      # the door knows now: no new entries


@pytest.mark.skipif(shutil.which("faketime") is None, reason="faketime not installed")
def test_the_flag_is_judged_on_server_time_for_a_door_whose_clock_is_an_hour_slow(tmp_path):
    """The same, the door's clock an hour slow (its offset to the server's time measured): she admits a holder after
    her deactivation. Before: her deactivation was compared with the door's own clock (the entry's `at`, an hour
    before it), so the entry was taken unflagged; now on server time (`at + clock_offset`): flagged."""
    home, payloads, lea = _lea_at_the_door(tmp_path)
    with _door(home):
        tg_at(home, "-1h", "agent", "login", "--staff", "Léa Martin", "--pin", stdin="1234\n")
        tg(home, "server", "staff", "deactivate", lea)
        time.sleep(1.0)
        assert json.loads(tg_at(home, "-1h", "agent", "scan", "--json", payloads[0]).stdout)["verdict"] == "accepted"
        assert _sync(home)["outbox_pending"] == 0
        (entry,) = [a for a in json.loads(tg(home, "server", "staff", "actions", "--json").stdout)
                    if a["kind"] == "entry"]
        assert entry["flag"].startswith(f"staff member Léa Martin ({lea}) deactivated at "), entry
