"""`ticketgate server staff add|list|set|deactivate|badge|actions`: the organiser's staff (docs/guides/organiser)."""
from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path

from agent.staff import make_badge
from server_stub.cli_output import Refused, emit, when
from server_stub.store.staff import public


def read_pin(args) -> str | None:
    """--pin: the PIN typed at a prompt, or one line of stdin (scripts); never on the command line (ps, history)."""
    if not getattr(args, "pin", False):
        return None
    if sys.stdin.isatty():
        return getpass.getpass("PIN: ").strip()
    line = sys.stdin.readline().strip()
    if not line:
        raise Refused("--pin: no PIN on standard input")
    return line


def _line(r: dict) -> str:
    how = "+".join(w for w, on in (("PIN", r["has_pin"]), ("badge", r["has_badge"])) if on)
    return f"{r['staff_id']:>4}  {r['name']}  {r['role']}  {how}  {'active' if r['active'] else 'deactivated'}"


def _name_free(store, org, name: str, staff_id: str | None = None) -> None:
    """A door logs a member in by name (`agent login --staff NAME --pin`): two members of one name could not log in by
    it ('several staff members are called …'), so a name another member holds (active or not) is refused here."""
    wanted = " ".join(name.casefold().split())
    for r in store.staff(org):
        if " ".join(r["name"].casefold().split()) == wanted and str(r["staff_id"]) != str(staff_id):
            state = "active" if r["active"] else (
                f"deactivated; to bring them back: ticketgate server staff set {r['staff_id']} --activate")
            raise Refused(f"staff {r['staff_id']} is called {r['name']!r} already ({state}); a different person "
                          f"needs a name that tells them apart (e.g. '{name.strip()} (bar)')")


def staff_add(store, org, args) -> int:
    _name_free(store, org, args.name)   # first: a deactivated member's name is told to `staff set ID --activate`
    if not (args.pin or args.badge):     # the store said "a PIN, a badge or both", naming no option
        raise Refused(f"{args.name!r} needs a way to log in: add --pin (asks for a 4-8 digit PIN), --badge (a badge "
                      f"to print with `ticketgate server staff badge ID`), or both; nobody was added")
    r = public(store.add_staff(org, args.name, args.role, pin=read_pin(args), badge=args.badge))
    return emit(args, r, f"staff {r['staff_id']} added: {_line(r)}")


def staff_list(store, org, args) -> int:
    rows = [public(r) for r in store.staff(org)]
    return emit(args, rows, "\n".join(_line(r) for r in rows) or "no staff")


def staff_set(store, org, args) -> int:
    if args.name is not None:
        _name_free(store, org, args.name, args.staff_id)
    r = public(store.set_staff(org, args.staff_id, name=args.name, role=args.role, pin=read_pin(args),
                               active=True if args.activate else None, new_badge=args.new_badge,
                               remove_pin=args.remove_pin))
    return emit(args, r, f"staff {r['staff_id']} changed: {_line(r)}")


def staff_deactivate(store, org, args) -> int:
    r = public(store.set_staff(org, args.staff_id, active=False))
    return emit(args, r, f"staff {r['staff_id']} deactivated (devices drop the login with their next update): "
                         f"{_line(r)}")


def staff_badge(store, org, args) -> int:
    """The signed badge QR of a member (reissued with `staff set --new-badge`), as text, PNG and/or PDF."""
    r = store.staff_member(args.staff_id, org)
    if r["badge_serial"] == 0:
        raise Refused(f"staff {r['staff_id']} has no badge: `staff set {r['staff_id']} --new-badge` issues one")
    payload = make_badge(org, r["staff_id"], r["badge_serial"], store.server_key(org).sign)
    written = []
    if args.png:
        _badge_png(payload, r, args.png)
        written.append(str(args.png))
    if args.pdf:
        _badge_pdf(payload, r, args.pdf)
        written.append(str(args.pdf))
    info = {"staff_id": r["staff_id"], "name": r["name"], "role": r["role"], "serial": r["badge_serial"],
            "payload": payload, "files": written}
    return emit(args, info, payload if not written else f"badge of {r['name']} written to {', '.join(written)}")


def staff_actions(store, org, args) -> int:
    rows = store.staff_actions(org, args.staff_id, args.limit)

    def line(a: dict) -> str:
        event = f" event {a['event_id']}" if a["event_id"] is not None else ""
        gate = f" gate {a['gate']}" if a["gate"] else ""
        what = (f"order {a['order_number']}" if a.get("order_number") and not a["ticket_key"]   # a payment taken
                else f"ticket {a['ticket_key'] or '-'}")
        return (f"{a['seq'] if a['seq'] is not None else '-':>6}  {when(a['at'])}  {a['type']}/{a['kind'] or a['verdict'] or ''}  {what}{event}  "
                f"{a['device_id']}{gate}  {a['staff'] or '-'} {a['staff_name'] or ''}"
                + (f"  FLAGGED: {a['flag']}" if a["flag"] else ""))
    return emit(args, rows, "\n".join(line(a) for a in rows) or "nothing uploaded")


def _badge_png(payload: str, r: dict, path: Path) -> None:
    from PIL import Image, ImageDraw
    from server_stub.eticket_png import _font, qr_image
    img = Image.new("RGB", (640, 860), "white")
    img.paste(qr_image(payload, 560).resize((560, 560)), (40, 40))
    draw = ImageDraw.Draw(img)
    draw.text((40, 640), r["name"], fill="black", font=_font(44, bold=True))
    draw.text((40, 710), f"{r['role']}  #{r['staff_id']}", fill="black", font=_font(32))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    _write_private(path, buf.getvalue())


def _badge_pdf(payload: str, r: dict, path: Path) -> None:
    from fpdf import FPDF
    from server_stub.eticket_pdf import _setup_fonts, _text, draw_qr
    pdf = FPDF(unit="mm", format=(54, 86))            # CR80 card, portrait
    pdf.set_auto_page_break(False)
    pdf.add_page()
    font = _setup_fonts(pdf)
    draw_qr(pdf, payload, 4, 4, 46)
    pdf.set_font(font, "B", 11)
    pdf.set_xy(4, 54)
    pdf.multi_cell(46, 5, _text(font, r["name"]))
    pdf.set_font(font, "", 9)
    pdf.set_x(4)
    pdf.cell(46, 5, _text(font, f"{r['role']}  #{r['staff_id']}"))
    _write_private(path, bytes(pdf.output()))


def _write_private(path: Path, data: bytes) -> None:
    """A badge logs its holder in: written 0600 like other credentials."""
    import os
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
