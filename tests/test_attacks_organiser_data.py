"""Hostile organiser data through the public commands (`ticketgate …` in subprocesses): control characters in buyer
data never reach the terminal raw; a CSV line naming a zone or category the event does not have imports nothing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "Eve\x1b[2J\x1b]0;pwned\x07\x9b31m\u202etxt.exe"


def tg(*args: str, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", *args[:1], "--data", str(data), *args[1:]], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def setup(tmp_path: Path) -> tuple[Path, int]:
    data = tmp_path / "server"
    assert tg("server", "init", "--org", "fest", "--name", "Fest", data=data).returncode == 0
    made = tg("server", "event", "create", "--name", "Night", "--start", "2026-12-31 20:00", "--end",
              "2027-01-01 03:00", "--zone", "1=Floor", "--zone", "2=Balcony", "--category", "1=Adult", "--json",
              data=data)
    return data, json.loads(made.stdout)["event_id"]


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c == "\u202e"]


def test_attack_control_chars_in_buyer_name(tmp_path):
    data, event = setup(tmp_path)
    added = tg("server", "order", "add", "--event", str(event), "--buyer", HOSTILE, "--email", "e\x1b[31m@x.org",
               "--json", data=data)
    assert added.returncode == 0
    number = json.loads(added.stdout)["number"]
    assert json.loads(added.stdout)["buyer_name"] == HOSTILE             # kept as given: nothing lost
    for args in (("order", "find", "Eve"), ("order", "show", number), ("order", "find", "Eve", "--json"),
                 ("order", "show", number, "--json"), ("order", "cancel", number, "--reason", "\x1b[2J spam")):
        shown = tg("server", *args, data=data)
        assert shown.returncode == 0, shown.stderr
        assert _raw_controls(shown.stdout + shown.stderr) == [], args
        assert "\\x1b[2J" in shown.stdout or "\\u001b[2J" in shown.stdout, args
    refused = tg("server", "order", "show", "\x1b[2Jnope", data=data)
    assert refused.returncode == 1 and _raw_controls(refused.stderr) == [] and "\\x1b" in refused.stderr
    parsed = json.loads(tg("server", "order", "show", number, "--json", data=data).stdout)
    assert parsed["buyer_name"] == HOSTILE                              # --json stays exact once parsed


def test_attack_csv_zone_out_of_event(tmp_path):
    data, event = setup(tmp_path)
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("buyer_name,email,zone,category\nAnn,a@x.org,1,1\nBob,b@x.org,99,1\nCy,c@x.org,2,7\n"
                        "Di,d@x.org,Floor,Adult\n")
    result = tg("server", "import-orders", str(csv_file), "--event", str(event), data=data)
    assert result.returncode == 1
    assert "line 3: zone 99 is not a zone of this event (known: 1=floor, 2=balcony)" in result.stderr
    assert "line 4: category 7 is not a category of this event (known: 1=adult)" in result.stderr
    assert json.loads(tg("server", "order", "find", "x.org", "--json", data=data).stdout) == []   # nothing imported
    csv_file.write_text("buyer_name,zone,category\nAnn,1,1\nDi,Balcony,Adult\n")
    assert tg("server", "import-orders", str(csv_file), "--event", str(event), data=data).returncode == 0


def test_attack_csv_digits_int_does_not_read_a_huge_event_and_a_nul_are_line_errors(tmp_path):
    """A ticketing export with a quantity and an event written '²' (a digit to str.isdigit, not to int()), an event id
    of 27 digits, a buyer name holding a NUL; `event create --zone ²=Floor`. Before: a traceback each (ValueError,
    OverflowError in the store's lookup), no line number; the NUL was imported on SQLite (PostgreSQL's text refuses
    it). Now each is its line's error, exit 1, nothing imported; the zone spec is refused with its usage."""
    data, event = setup(tmp_path)
    for body, said in (("buyer_name,quantity\nAnn,²\n", "line 2: quantity '²': a whole number 1..100"),
                       ("buyer_name,event\nAnn,²\n", "line 2: event '²': an event or pass id (a number)"),
                       ("buyer_name,event\nAnn,999999999999999999999999999\n",
                        "line 2: event '999999999999999999999999999': an event or pass id (a number)"),
                       ("buyer_name,email\nA\x00nn,a@x.org\n",
                        "line 2: buyer_name: a NUL character (\\x00): not text, is the file damaged?")):
        csv_file = tmp_path / "orders.csv"
        csv_file.write_text(body)
        result = tg("server", "import-orders", str(csv_file), *(["--event", str(event)] if "event" not in body else []),
                    data=data)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert said in result.stderr and "nothing imported" in result.stderr, result.stderr
    assert json.loads(tg("server", "order", "find", "x.org", "--json", data=data).stdout) == []
    zone = tg("server", "event", "create", "--name", "Y", "--start", "2027-01-01 10:00", "--end", "2027-01-01 20:00",
              "--zone", "²=Floor", data=data)
    assert zone.returncode != 0 and "Traceback" not in zone.stderr and "'²=Floor': use ID=NAME" in zone.stderr
