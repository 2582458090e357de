"""`server sales-window set --opens/--closes` take the time as the organiser writes it everywhere else ('YYYY-MM-DD
HH:MM' in the event's time zone, as `event create --start`), ISO 8601, or UNIX time as before. It took UNIX time
only: "--closes '2026-12-31 20:00'" was an argparse error ("invalid float value"), and the guide had the organiser
convert 20:00 UTC to 1782936000 by hand."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from tests.helpers import ROOT, fete, server_cmd


def test_a_sales_window_is_set_in_the_events_local_time(tmp_path):
    data = tmp_path / "server"
    ev = str(fete(data, "1=Adulte"))                      # Europe/Paris: CET in December
    said = server_cmd(data, "sales-window", "set", ev, "--opens", "2026-12-01 10:00", "--closes", "2026-12-31 20:00",
                      "--max-per-order", "6").stdout.strip()
    assert said == ("event 1: on sale from 2026-12-01 10:00 CET until 2026-12-31 20:00 CET, at the door and online, "
                    "at most 6 per order"), said
    window = json.loads(server_cmd(data, "sales-window", "show", ev, "--json").stdout)
    assert window["opens_at"] == datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc).timestamp()
    assert window["closes_at"] == datetime(2026, 12, 31, 19, 0, tzinfo=timezone.utc).timestamp()

    server_cmd(data, "sales-window", "set", ev, "--closes", "2026-12-31T18:00:00+00:00")
    assert json.loads(server_cmd(data, "sales-window", "show", ev, "--json").stdout)["closes_at"] == datetime(
        2026, 12, 31, 18, 0, tzinfo=timezone.utc).timestamp()
    server_cmd(data, "sales-window", "set", ev, "--closes", "2098483200")            # UNIX time, as before
    assert json.loads(server_cmd(data, "sales-window", "show", ev, "--json").stdout)["closes_at"] == 2098483200

    bad = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "sales-window", "set", ev,
                          "--closes", "tomorrow evening"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, TICKETGATE_SERVER_DB=""))
    assert bad.returncode == 1 and "time 'tomorrow evening': use 'YYYY-MM-DD HH:MM' (local to the event's time zone)" \
        in bad.stderr, bad.stderr
    assert json.loads(server_cmd(data, "sales-window", "show", ev, "--json").stdout)["closes_at"] == 2098483200


def test_a_sales_window_set_changes_only_what_is_given(tmp_path):
    """`sales-window set 1 --max-per-order 4` after `--closes '2026-12-31 20:00' --max-per-order 8` replaced the
    whole window: the closing time was dropped without a word ("on sale from now with no end") and the kiosks sold
    past it. What is not given is now kept; 'none' clears a bound or the limit, --no-door-only lifts --door-only."""
    data = tmp_path / "server"
    ev = str(fete(data, "1=Adulte"))

    def window(*args: str) -> dict:
        server_cmd(data, "sales-window", "set", ev, *args)
        return json.loads(server_cmd(data, "sales-window", "show", ev, "--json").stdout)

    closes = datetime(2026, 12, 31, 19, 0, tzinfo=timezone.utc).timestamp()
    assert window("--closes", "2026-12-31 20:00", "--max-per-order", "8")["closes_at"] == closes
    assert window("--max-per-order", "4") == {"target_id": int(ev), "opens_at": None, "closes_at": closes,
                                              "door_only": False, "max_per_order": 4}
    assert window("--door-only") == {"target_id": int(ev), "opens_at": None, "closes_at": closes,
                                     "door_only": True, "max_per_order": 4}
    said = server_cmd(data, "sales-window", "set", ev, "--closes", "none", "--max-per-order", "none").stdout.strip()
    assert said == "event 1: on sale from now with no end, only at the door (kiosks on site), no limit per order"
    assert window("--no-door-only")["door_only"] is False

    bad = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(data), "sales-window", "set", ev,
                          "--max-per-order", "four"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, TICKETGATE_SERVER_DB=""))
    assert bad.returncode == 1 and "--max-per-order 'four': a number 1..1000, or 'none'" in bad.stderr, bad.stderr
