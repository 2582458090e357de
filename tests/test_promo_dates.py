"""`server promo add --valid-from/--valid-until` take the time as `event create` does ('YYYY-MM-DD HH:MM' in the
--target event's time zone; UTC for a promotion of every event), ISO 8601 or UNIX time, and `promo add` / `promo
list` say the dates. They took UNIX time only (an argparse error otherwise), and `promo list` never showed them: a
code the kiosk refused as out of its dates looked valid to the organiser."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from tests.helpers import fete, server_cmd


def test_a_promotions_dates_are_typed_and_listed_in_the_events_local_time(tmp_path):
    data = tmp_path / "server"
    ev = str(fete(data, "1=Adulte"))                      # Europe/Paris: CET in December
    said = server_cmd(data, "promo", "add", "--target", ev, "--percent", "10", "--code", "EARLY", "--valid-from",
                      "2026-12-01 10:00", "--valid-until", "2026-12-20 18:00").stdout.strip()
    assert said == "promotion 1: -10% (EARLY), from 2026-12-01 10:00 CET, until 2026-12-20 18:00 CET", said
    (promo,) = json.loads(server_cmd(data, "promo", "list", "--json").stdout)
    assert promo["valid_from"] == datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc).timestamp()
    assert promo["valid_until"] == datetime(2026, 12, 20, 17, 0, tzinfo=timezone.utc).timestamp()
    server_cmd(data, "promo", "add", "--percent", "5", "--code", "ALL", "--valid-until", "2026-12-20 18:00")
    server_cmd(data, "promo", "add", "--percent", "7", "--code", "OLD", "--valid-until", "2098483200")
    listed = server_cmd(data, "promo", "list").stdout.splitlines()
    assert listed == ["1: -10% (EARLY) (target 1, category any, uses 0, from 2026-12-01 10:00 CET, until "
                      "2026-12-20 18:00 CET)",
                      "2: -5% (ALL) (target any, category any, uses 0, until 2026-12-20 18:00 UTC)",
                      "3: -7% (OLD) (target any, category any, uses 0, until 2036-07-01 00:00 UTC)"], listed
