"""A kiosk running the app's desk over its real sync (SimDevice + Door + Controller + KioskDesk), against a running
sync server: the set-up of the desk walks that sell through the kiosk's controller (test_desk_server_down.py,
test_desk_offline_number.py)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from agent.policy import DevicePolicy
from agent.sync import BrokerConfig
from kiosk_ui.adapters import build_services
from kiosk_ui.adapters.desk import KioskDesk, SyncSaleLink
from kiosk_ui.controller import Controller
from kiosk_ui.door import Door
from kiosk_ui.services import Payment
from server_stub.sync.sim_device import SimDevice
from tests.helpers import wait_for
from tests.sync_fixtures import FAST, ORG, make_store, start_server

PRICE = 2000


@dataclass
class KioskDeskField:
    server: list[Any]          # [the running SyncServer]: a test stops and starts it again in place
    kiosk: SimDevice
    door: Door
    ctl: Controller
    desk: KioskDesk


def prepare_kiosk(store: Any, event: int) -> None:
    """`kiosk-1`, a ticket desk for `event` with an allotment of 10, its category 1 at PRICE."""
    store.set_price(ORG, event, 1, PRICE)
    store.set_quota(ORG, event, 40)
    store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
    store.set_allotment_size(ORG, "kiosk-1", [event], 10, hours=4)


@contextmanager
def kiosk_desk(tmp_path: Path, store: Any, event: int, port: int) -> Iterator[KioskDeskField]:
    """The server started and the kiosk online with its catalogue and allotment; both stopped at the end."""
    server = [start_server(store, port, limits=None)]
    kiosk = SimDevice(tmp_path / "kiosk", ORG, "kiosk-1", store.server_public_key(ORG), BrokerConfig(port=port),
                      [event], options=FAST, role="kiosk").go_online()
    try:
        door = Door(kiosk.ledger, kiosk.keyring,
                    DevicePolicy(device_id="kiosk-1", gate="Desk", events=frozenset({event})))
        ctl = Controller(door, build_services(door, tmp_path / "kiosk"))
        ctl.services.desk = desk = KioskDesk(door, tmp_path / "kiosk", SyncSaleLink(kiosk), org=ORG)
        yield KioskDeskField(server, kiosk, door, ctl, desk)
    finally:
        kiosk.close()
        server[0].stop()


def ready(desk: KioskDesk) -> None:
    assert wait_for(lambda: desk.online and desk.targets(), 30), "no catalogue from the kiosk bundle"
    assert desk.refill() == "" and desk.certificate() is not None


def sell(ctl: Controller, event: int, n: int) -> Any:
    """`n` tickets of category 1 through the sale flow, paid in cash."""
    flow = ctl.sale
    flow.choose(event)
    flow.add(1, n)
    return flow.confirm(Payment("cash", given_cents=PRICE * n))


@contextmanager
def sold_online(tmp_path: Path, port: int, devices: tuple[str, ...] = (), n: int = 2
                ) -> Iterator[tuple[Any, int, KioskDeskField, Any]]:
    """A store whose kiosk, online (`kiosk_desk`), sold `n` tickets through the server: (store, event, field, the
    sale); the store closed at the end."""
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=devices)
    prepare_kiosk(store, event)
    try:
        with kiosk_desk(tmp_path, store, event, port) as f:
            ready(f.desk)
            sold = sell(f.ctl, event, n).result
            assert sold.ok and not sold.offline, sold
            yield store, event, f, sold
    finally:
        store.close()


@contextmanager
def priced_kiosk_store(tmp_path: Path, db: str | None) -> Iterator[tuple[Any, int]]:
    """A store (SQLite, or PostgreSQL at `db`) whose event's category 1 costs PRICE, `kiosk-1` registered for it:
    (store, event); closed at the end."""
    store, event, _ = make_store(tmp_path / "server", tickets=0, devices=(), categories=("Standard",), db=db)
    try:
        store.set_price(ORG, event, 1, PRICE)
        store.register_device(ORG, "kiosk-1", events=[event], role="kiosk")
        yield store, event
    finally:
        store.close()
