"""Structured append joined in stills (drivers/camera/sequences.py), attacked: a crafted image holding the first
symbol of one ticket's sequence and the second of another's (both genuine, split in two), and an image holding two
whole sequences. Held: a mixed pair is never read as a ticket the keyring verifies (the join is zbar's, by the
sequence's parity; a text joined from two tickets would fail its signature anyway), and two sequences in one frame
are read as the two tickets, each verdict said. Through `ticketgate decode --json --keyring`."""
from __future__ import annotations

import io

import numpy as np
import segno
from PIL import Image

from tests.test_interop_qr import TICKET, decode, ring, side_by_side  # noqa: F401 (the fixture)


def _sequence(payload: str) -> list[np.ndarray]:
    parts = []
    for symbol in segno.make_sequence(payload, symbol_count=2, error="m"):
        buf = io.BytesIO()
        symbol.save(buf, kind="png", scale=4, border=4)
        parts.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")))
    return parts


def test_attack_pieces_of_two_tickets_sequences_never_join_into_a_ticket(tmp_path, ring):  # noqa: F811
    a, b = TICKET.payload(ticket_id=1001, seat="Rang 1, Platz 1"), TICKET.payload(ticket_id=2002, seat="Rang 9, Platz 9")
    (a1, a2), (b1, b2) = _sequence(a), _sequence(b)
    out = decode(tmp_path, {"mixed": side_by_side([a1, b2]), "mixed_other": side_by_side([b1, a2]),
                            "both": side_by_side([a1, a2, b1, b2]), "crossed": side_by_side([a1, b2, b1, a2])},
                 "--keyring", str(ring))
    for name in ("mixed", "mixed_other"):
        assert a not in out[name]["texts"] and b not in out[name]["texts"], out[name]
        assert all((c["verdict"] or {}).get("status") != "ok" for c in out[name]["codes"]), out[name]
    for name in ("both", "crossed"):
        assert sorted(out[name]["texts"]) == sorted([a, b]), out[name]
        ids = sorted(c["verdict"]["ticket"]["ticket_id"] for c in out[name]["codes"] if (c["verdict"] or {}).get("status") == "ok")
        assert ids == [1001, 2002], out[name]
