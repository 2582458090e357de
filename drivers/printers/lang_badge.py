"""CR80 badge / card printers: the badge of `badge` (300 dpi PNG, and a card-sized PDF), sent with IPP Print-Job,
through the local CUPS (`lp`), or saved to a folder (each badge under its own name: badge-ORDER.png/.pdf, then
badge-ORDER-2…; a file already there is never replaced)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from drivers.printers.registry import PrinterLanguage, register

MEDIA = "om_card_85.6x53.98mm"


def _render(ticket, config) -> bytes:
    from drivers.printers.badge import badge_png
    return badge_png(ticket)


def _send(config, png: bytes, ticket):
    from drivers.printers import ipp
    from drivers.printers.badge import badge_pdf
    pdf = badge_pdf(ticket, png)
    stem = f"badge-{ticket.order_number or 'ticket'}"
    if config.connection == "ipp":
        uri = config.ipp_uri or f"ipp://{config.host}:{config.port}/ipp/print"
        return ipp.send_ipp(pdf, uri, "application/pdf", config.timeout, media=MEDIA)
    if config.connection == "lp":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{stem}.pdf"
            path.write_bytes(pdf)
            return ipp.send_lp(path, config.lp_destination)
    folder = Path(config.save_folder or tempfile.gettempdir())
    return ipp.save_new(folder, stem, [(".png", png), (".pdf", pdf)])      # badge-X.png, badge-X-2.png…: never replaced


LANGUAGE = register(PrinterLanguage(
    name="badge", label="Badge printer (CR80 cards)", kind="badge", connections=("ipp", "lp", "save"),
    default_port=631, render=_render, send=_send, service_types=("_ipp._tcp.local.",)))
