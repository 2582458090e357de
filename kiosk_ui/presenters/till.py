"""The cash-up screen's view-model: the open shift (float) or none, and the last Z report as translated rows.
Pure: settings and report dicts in, texts out (amounts in the kiosk's language, the event's currency)."""
from __future__ import annotations

from dataclasses import dataclass

from drivers.printers.wording import money
from kiosk_ui.i18n import language, tr
from kiosk_ui.presenters.labels import MOVE_LABELS, PAYMENT_LABELS


@dataclass(frozen=True)
class TillView:
    status: str                      # "Shift 3 open, float EUR 150.00" / "No shift open"
    is_open: bool
    action: str                      # the button: "Open shift" / "Close shift"
    amount_hint: str                 # "Float (cash in the drawer)" / "Cash counted in the drawer"
    report: tuple[tuple[str, str], ...]   # (label, value) rows of the last Z report


def method_label(method: str) -> str:
    """A move's payment method in the app's language; `split`: paid several ways."""
    return tr(PAYMENT_LABELS.get(method, "Split (several ways)" if method == "split" else method))


def z_rows(z: dict) -> tuple[tuple[str, str], ...]:
    lang, cur = language(), z.get("currency", "EUR")

    def m(cents: int | None) -> str:
        return "-" if cents is None else money(cents, cur, lang)
    rows = [(tr("Z report"), tr("Shift {n}", n=z["shift_id"])),
            (tr("Sales"), f"{z['sales']['count']} · {z['sales']['tickets']} {tr('tickets')} · "
                          f"{m(z['sales']['total_cents'])}")]
    rows += [(f"  {method_label(k)}", m(v)) for k, v in z["payments"].items()]
    later = z.get("pending_paid") or {"count": 0, "total_cents": 0}
    rows += [(tr("Pending orders paid"), f"{later['count']} · {m(later['total_cents'])}"),
             (tr("Refunds"), f"{z['refunds']['count']} · {m(z['refunds']['total_cents'])}"),
             (tr("Cancellations"), f"{z['voids']['count']} · {m(z['voids']['total_cents'])}"),
             (tr("Exchanges"), f"{z['exchanges']['count']} · +{m(z['exchanges']['collected_cents'])} "
                               f"-{m(z['exchanges']['refunded_cents'])}")]
    rows += [(f"  {method_label(k)}", m(v)) for k, v in z["exchanges"].get("payments", {}).items()]
    refused = z.get("refused")          # taken by the kiosk, refused by the server: explains a drawer over by as much
    if refused and refused["count"]:
        rows.append((tr("Refused by the server"), f"{refused['count']} · {m(refused['total_cents'])}"))
        rows += [(f"  {tr('Sale') if r['what'] == 'sale' else tr('Payment')} {r['order'] or r['id']}",
                  f"{method_label(r['payment'])} {m(r['total_cents'])}")
                 for r in refused["moves"]]
        rows.append((f"  {tr('Taken, not in the expected cash')}", ""))
    def moves_apart(section: dict | None, title: str, cash_label: str) -> None:
        """A section of moves the drawer does not hold (titles translated): count and total, each move, cash."""
        if not section or not section["count"]:
            return
        rows.append((title, f"{section['count']} · {m(section['total_cents'])}"))
        rows.extend((f"  {tr(MOVE_LABELS.get(r['what'], r['what']))} {r['order'] or r['id']}",
                     f"{method_label(r['payment'])} {m(r['amount_cents'])}") for r in section["moves"])
        rows.append((f"  {cash_label}", m(section["cash_cents"])))
    # made while no shift was open: not in the sales nor the expected cash
    moves_apart(z.get("outside_shift"), tr("Taken outside a shift"),
                tr("Cash before the shift, not in the expected cash"))
    # a stolen kiosk's moves the organiser's rollback cancelled: not in the drawer
    moves_apart(z.get("rolled_back"), tr("Cancelled by rollback"), tr("Cash not in the drawer"))
    rows += [(tr("Float"), m(z["float_cents"])), (tr("Expected cash"), m(z["expected_cash_cents"])),
             (tr("Counted cash"), m(z["counted_cash_cents"])), (tr("Difference"), m(z["difference_cents"]))]
    # each member: their sales, and what they took by each means (server_stub.reports.taken; a report of before: none)
    rows += [(f"  {s['staff']}", f"{s['sales']} · {m(s['total_cents'])}" + "".join(
        f" · {method_label(k)} {m(v)}" for k, v in (s.get("taken") or {}).items() if v)) for s in z["per_staff"]]
    return tuple(rows)


def till_view(shift: dict | None, last_z: dict | None) -> TillView:
    if shift:                   # float None: a shift the organiser opened (this kiosk learnt it from a refusal)
        status = (tr("Shift {n} open", n=shift["shift"]) if shift.get("float_cents") is None else
                  tr("Shift {n} open, float {amount}", n=shift["shift"],
                     amount=money(shift["float_cents"], shift.get("currency", "EUR"), language())))
        return TillView(status, True, tr("Close shift"), tr("Cash counted in the drawer"),
                        z_rows(last_z) if last_z else ())
    return TillView(tr("No shift open"), False, tr("Open shift"), tr("Float (cash in the drawer)"),
                    z_rows(last_z) if last_z else ())

