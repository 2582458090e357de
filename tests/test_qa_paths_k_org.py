"""The organiser's paths (session K): the till closed from the server while a kiosk still holds sales made offline,
sales the server refused for good in the Z report, uploads of unregistered or revoked devices in `server refusals`;
and a walk through the public commands. Real mosquitto, SQLite and PostgreSQL. Each test fails on the defect it
names."""
from __future__ import annotations

import json
import time
from dataclasses import replace

from tests.helpers import wait_for
from tests.qa_organiser import tg
from tests.sync_fixtures import FAST, ORG, start_server
from tests.test_desk_online import counter  # noqa: F401  (the fixture)
from tests.test_qa_paths_j_till import _sell_offline


def test_a_till_closed_from_the_server_while_the_kiosk_holds_offline_sales_is_refused_naming_them(tmp_path,
                                                                                                counter):  # noqa: F811
    """Three cash sales made offline (60.00, the kiosk off the network); the kiosk back on the broker, the sales not
    uploaded yet (a kiosk whose uploads do not get through: its upload window 0). `server till close`
    closed the shift with no sale counted and no word of the three on the kiosk: the Z report short by 60.00, the
    drawer 'over' by as much. The kiosk's (retained) status now carries its count of unsent sales and when it
    counted them: the close is refused naming them; `--force` closes with the Z report warning of them; once they
    arrive the kiosk says 0 and the server forgets the warning."""
    store, event, server, sim, ctl, desk, _, _, broker = counter
    assert desk.refill() == "" and desk.certificate() is not None
    shift = desk.till("open", 10000).order_number
    sim.go_offline()
    _sell_offline(ctl, event, 3)
    sim.options = replace(FAST, upload=replace(FAST.upload, window=0))
    sim.go_online()
    assert wait_for(lambda: (store.unsent_sales("kiosk-1") or (0,))[0] == 3, 30), store.unsent_sales("kiosk-1")
    assert time.time() - 60 < store.unsent_sales("kiosk-1")[1] <= time.time()
    data = ["--data", str(tmp_path / "server")]
    refused = tg(tmp_path, "server", *data, "till", "close", shift, "--counted-cents", "16000", ok=False)
    assert refused.returncode == 1
    assert "kiosk kiosk-1 had 3 sale(s) not yet received at " in refused.stderr, refused.stderr
    assert "--force" in refused.stderr
    assert [s["closed_at"] for s in store.shifts(ORG, "kiosk-1")] == [None]
    shown = tg(tmp_path, "server", *data, "till", "show", shift).stdout              # the X report warns too
    assert "WARNING" in shown and "kiosk kiosk-1 had 3 sale(s) not yet received" in shown, shown
    closed = tg(tmp_path, "server", *data, "till", "close", shift, "--counted-cents", "16000", "--force").stdout
    assert "kiosk kiosk-1 had 3 sale(s) not yet received" in closed, closed
    z = json.loads(tg(tmp_path, "server", *data, "till", "z-report", shift, "--json").stdout)
    assert z["final"] and z["sales"]["count"] == 0 and z["unsent_sales"]["count"] == 3, z
    sim.go_offline()
    sim.options = FAST
    sim.go_online()
    assert wait_for(lambda: desk.unsent_sales() == 0, 30)
    assert wait_for(lambda: store.unsent_sales("kiosk-1")[0] == 0, 10), store.unsent_sales("kiosk-1")
    opened = tg(tmp_path, "server", *data, "till", "open", "kiosk-1", "--float-cents", "0", "--json").stdout
    x = tg(tmp_path, "server", *data, "till", "show", str(json.loads(opened)["shift_id"])).stdout
    assert "WARNING" not in x, x

