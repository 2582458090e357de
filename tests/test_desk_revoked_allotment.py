"""Offline sales under an allotment the organiser revoked (real mosquitto, the sync server, the kiosk's app wiring):
one made before the revocation is honoured and flagged for the organiser; one made after it (the kiosk offline, not
told yet) is refused, listed in the Z report as taken and refused (money to hand back) and by `server refusals`;
once the kiosk knows of the revocation it sells nothing more under it offline, saying why."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent.allotment import revocation_key
from kiosk_ui.adapters.desk import ALLOTMENT_REVOKED
from tests.helpers import wait_for
from tests.kiosk_desk_field import PRICE, kiosk_desk, prepare_kiosk, ready, sell
from tests.sync_fixtures import ORG, make_store, start_server

ROOT = Path(__file__).resolve().parent.parent


def test_offline_sales_under_a_revoked_allotment(tmp_path, broker):
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=())
    prepare_kiosk(store, event)
    try:
        with kiosk_desk(tmp_path, store, event, broker.port) as f:
            ready(f.desk)
            cert = f.desk.certificate()
            shift = store.open_shift(ORG, "kiosk-1", 10_000)
            f.server[0].stop()                                       # the hotspot's server goes down
            assert wait_for(lambda: not f.desk.online, 10)
            before = sell(f.ctl, event, 1).result                    # sold before the revocation
            assert before.ok and before.offline, before.problem
            store.revoke_allotment(ORG, cert.allotment_id, "tablet reported stolen")
            after = sell(f.ctl, event, 2).result                     # the kiosk was not told: it sold
            assert after.ok and after.offline, after.problem
            f.server[0] = start_server(store, broker.port, limits=None)
            assert wait_for(lambda: f.kiosk.ledger.outbox_size() == 0, 30), "the offline sales never went up"
            assert store.order(before.order_number)["status"] == "paid"          # honoured, flagged
            flagged = [u for u in store.device_uploads("kiosk-1") if u.get("flag")]
            assert len(flagged) == 1 and "before it was revoked" in flagged[0]["flag"], flagged
            refused = {r["reason"] for r in store.refusals(ORG, "kiosk-1")}
            assert any("was revoked" in r and "to hand back to the buyer" in r for r in refused), refused
            z = store.close_shift(ORG, shift["shift_id"], 10_000 + 3 * PRICE)["report"]
            assert z["sales"]["total_cents"] == PRICE and z["expected_cash_cents"] == 10_000 + PRICE
            assert (z["refused"]["count"], z["refused"]["total_cents"]) == (1, 2 * PRICE)
            assert z["refused"]["moves"][0]["order"] == after.order_number
            assert z["difference_cents"] == 2 * PRICE              # the drawer over by what is to hand back
            # told of the revocation, the kiosk sells nothing more under it offline
            assert wait_for(lambda: f.kiosk.ledger.history(revocation_key(cert.allotment_id)).revoked is not None, 20)
            assert f.desk.needs_refill()
            f.server[0].stop()
            assert wait_for(lambda: not f.desk.online, 10)
            refused_sale = sell(f.ctl, event, 1).result
            assert not refused_sale.ok and refused_sale.problem == ALLOTMENT_REVOKED
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        shown = subprocess.run([sys.executable, "-m", "agent", "server", "--data", str(tmp_path / "server"), "device",
                                "uploads", "kiosk-1"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
        assert "FLAGGED: sold under allotment" in shown.stdout, shown.stdout + shown.stderr
    finally:
        store.close()
