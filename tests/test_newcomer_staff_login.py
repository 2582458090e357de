"""The kiosk operator's guide said `agent login --staff Sam --pin` for the organiser guide's "Sam Okafor": refused,
"no staff member 'Sam' on this device", and nothing said what to type. Now the refusal names the close member and
says to give the full name or the id (and the guides give the full name). Public commands, a real door."""
from __future__ import annotations

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import tg
from tests.test_qa_skew import _event_now
from tests.test_qa_walks import _door

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@needs_broker
def test_a_first_name_alone_is_refused_naming_the_member_and_what_to_type(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    tg(home, "server", "staff", "add", "--name", "Sam Okafor", "--role", "supervisor", "--pin", stdin="2468\n")
    with _door(home):
        refused = tg(home, "agent", "login", "--staff", "Sam", "--pin", stdin="2468\n", ok=False)
        assert refused.returncode == 1
        assert ("no staff member 'Sam' on this device: did you mean 'Sam Okafor'? give the full name, as "
                "`ticketgate server staff list` shows it, or the staff id") in refused.stderr, refused.stderr
        nobody = tg(home, "agent", "login", "--staff", "Zed", "--pin", stdin="2468\n", ok=False)
        assert "did you mean" not in nobody.stderr and "give the full name" in nobody.stderr, nobody.stderr
        assert "on duty: nobody" in tg(home, "agent", "status").stdout          # nobody was logged in
        said = tg(home, "agent", "login", "--staff", "Sam Okafor", "--pin", stdin="2468\n").stdout
        assert "on duty: Sam Okafor (supervisor)" in said
