"""CSV import of orders: good files, every kind of bad line (with line numbers), nothing half-imported."""
from __future__ import annotations

import time

import pytest

from server_stub.csv_import import import_orders
from server_stub.store import open_store

NOW = time.time()


@pytest.fixture
def setup(tmp_path):
    s = open_store(tmp_path / "server")
    s.create_organiser("fest", "Fest")
    ev = s.create_event("fest", "Night", NOW, NOW + 3600, "UTC", [{"zone_id": 1, "name": "Floor"}, {"zone_id": 2, "name": "Balcony"}],
                        [{"category_id": 1, "name": "Adult"}, {"category_id": 2, "name": "Child"}])
    yield s, ev
    s.close()


def tickets(store, ev):
    return list(store.tickets_for_event(ev))


def test_good_file_with_names_quantities_and_grouped_orders(setup):
    store, ev = setup
    data = ("\ufeffName;Email;Category;Zone;Seat;Quantity;Order_ref;Status\n"
            "Hélène Dupont;h@example.org;Adult;Floor;;2;A1;paid\n"
            "Hélène Dupont;h@example.org;child;balcony;B12;1;A1;paid\n"
            "\n"
            "Bob Martin;;2;;;;;pending\n").encode()
    parsed = import_orders(store, "fest", data, ev)
    assert parsed.errors == [] and len(parsed.orders) == 2 and parsed.tickets == 4
    rows = tickets(store, ev)
    assert len(rows) == 4
    helene = store.find_orders("helene")[0]
    assert [(t["category"], t["zone"], t["seat"]) for t in helene["tickets"]] == [(1, 1, None), (1, 1, None), (2, 2, "B12")]
    assert store.find_orders("bob")[0]["status"] == "pending"


@pytest.mark.parametrize("body, message", [
    ("buyer_name,category\nAnn,Seniors\n", "line 2: unknown category 'Seniors'"),
    ("buyer_name,zone\nAnn,Roof\n", "line 2: unknown zone 'Roof'"),
    ("buyer_name,quantity\nAnn,0\n", "line 2: quantity '0'"),
    ("buyer_name,quantity\nAnn,many\n", "line 2: quantity 'many'"),
    ("buyer_name,status\nAnn,refunded\n", "line 2: status 'refunded'"),
    ("buyer_name,seat,quantity\nAnn,A1,2\n", "line 2: a line with a seat is one ticket"),
    ("buyer_name,email\nAnn,not-an-email\n", "line 2: email 'not-an-email'"),
    ("buyer_name,email\n,a@b.c\n", "line 2: an order needs a buyer name"),
    ("buyer_name,email\nAnn,a@b.c,extra\n", "line 2: 3 fields, the header has 2"),
    ("buyer_name,event\nAnn,999\n", "line 2: no event or pass 999"),
    ("buyer_name,zone\nAnn,300\n", "line 2: zone 300"),
    ("buyer_name,order_ref\nAnn,R1\nBen,R1\n", "line 3: order_ref 'R1' was used with another buyer"),
    ("nom,prenom\nAnn,Lee\n", "line 1: unknown column(s) nom, prenom"),
    ("email\na@b.c\n", "line 1: missing column buyer_name"),
    ("", "line 1: empty file"),
    ("buyer_name\n", "no orders in the file"),
])
def test_bad_lines_are_reported_and_nothing_is_imported(setup, body, message):
    store, ev = setup
    parsed = import_orders(store, "fest", body.encode(), ev)
    assert any(e.startswith(message) for e in parsed.errors), parsed.errors
    assert tickets(store, ev) == []


def test_one_bad_line_among_many_good_ones_imports_nothing(setup):
    store, ev = setup
    lines = ["buyer_name,email,zone"] + [f"Buyer {i},b{i}@example.org,Floor" for i in range(300)]
    lines.insert(151, "Broken,b@example.org,Basement")
    parsed = import_orders(store, "fest", "\n".join(lines).encode(), ev)
    assert parsed.errors == ["line 152: unknown zone 'Basement' (known: balcony, floor)"]
    assert tickets(store, ev) == []


def test_not_utf8_and_broken_quoting(setup):
    store, ev = setup
    parsed = import_orders(store, "fest", "buyer_name\nHélène\n".encode("latin-1"), ev)
    assert parsed.errors == ["line 2: not UTF-8 text (save the CSV as UTF-8)"]
    parsed = import_orders(store, "fest", b'buyer_name,email\n"Ann,a@b.c\n', ev)
    assert parsed.errors and tickets(store, ev) == []


def test_event_column_and_missing_event(setup):
    store, ev = setup
    parsed = import_orders(store, "fest", f"buyer_name,event\nAnn,{ev}\n".encode(), None)
    assert parsed.errors == [] and len(tickets(store, ev)) == 1
    parsed = import_orders(store, "fest", b"buyer_name\nBen\n", None)
    assert parsed.errors == ["line 2: no event: give --event or an `event` column"]


def test_other_organisers_events_are_refused(setup, tmp_path):
    store, ev = setup
    store.create_organiser("other", "Other")
    theirs = store.create_event("other", "Theirs", NOW, NOW + 10, "UTC", [], [])
    parsed = import_orders(store, "fest", b"buyer_name\nAnn\n", theirs)
    assert parsed.errors == [f"line 2: no event or pass {theirs} for organiser 'fest'"]


def test_event_column_that_is_not_a_number_is_a_line_error():
    from server_stub.csv_import import parse_orders_csv
    parsed = parse_orders_csv("buyer_name,event\nAnn,seven\n", None, lambda target: None)
    assert parsed.errors == ["line 2: event 'seven': an event or pass id (a number)"] and not parsed.orders
