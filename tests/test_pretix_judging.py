"""pretix tickets judged as pretix judges them (issue 9 §5), through `ticketgate agent` as a user runs it:
a validity field of 0 is no bound; with an item mapping, an item it does not name is `unknown_product`."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.pretix_sig1 import PretixTicket, decode_ticket_message, sign_secret, split_secret
from tests.vectors.make_vectors import pretix_pem_b64, private

ROOT = Path(__file__).resolve().parent.parent


def agent(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "agent", "--home", str(home), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def home(tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"slug": "conf", "valid_keys": {"pretix_sig1": [pretix_pem_b64(private("px"))]}}))
    h = tmp_path / "home"
    h.mkdir()
    h.joinpath("event.json").write_text(event.read_text())
    return h


def scan(home: Path, secret: str) -> dict:
    result = agent(home, "scan", "--json", "--reread-window", "0", secret)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_pretix_validity_zero_is_no_bound(home):
    assert agent(home, "trust-pretix", str(home / "event.json"), "--event-id", "2").returncode == 0
    now = int(time.time())
    start_only = sign_secret(PretixTicket("seed-start-only", item=5, valid_from=now - 3600, valid_until=0), private("px"))
    assert decode_ticket_message(split_secret(start_only)[0]).valid_until is None   # pretix wrote 0: no bound
    assert scan(home, start_only)["verdict"] == "accepted"
    end_only = sign_secret(PretixTicket("seed-end-only", item=5, valid_from=0, valid_until=now + 3600), private("px"))
    assert scan(home, end_only)["verdict"] == "accepted"
    over = sign_secret(PretixTicket("seed-over", item=5, valid_from=0, valid_until=now - 60), private("px"))
    assert scan(home, over)["verdict"] == "expired"                   # a real bound still counts


def test_pretix_unknown_item_with_a_mapping_is_not_admitted(home):
    assert agent(home, "trust-pretix", str(home / "event.json"), "--event-id", "2", "--item", "5=3:1").returncode == 0
    unknown = sign_secret(PretixTicket("seed-item-6", item=6), private("px"))
    v = scan(home, unknown)
    assert (v["verdict"], v["accepted"], v["scan_uuid"]) == ("unknown_product", False, None)
    assert "item 6" in v["detail"]
    status = json.loads(agent(home, "status", "--json").stdout)
    assert status["counts"]["checkins"] == 0
    assert scan(home, sign_secret(PretixTicket("seed-item-5", item=5), private("px")))["verdict"] == "accepted"
    # without any item mapping, every item of the event counts (category 0, every zone), as before
    assert agent(home, "trust-pretix", str(home / "event.json"), "--event-id", "2").returncode == 0
    assert scan(home, unknown)["verdict"] == "accepted"
