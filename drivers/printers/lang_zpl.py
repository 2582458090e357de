"""Zebra ZPL II label printers (203 dpi): the show ticket or the cinema ticket of `zpl`, sent over raw TCP 9100
with ~HS host status checks."""
from __future__ import annotations

from drivers.printers import status
from drivers.printers.registry import PrinterLanguage, register


def _render(ticket, config) -> bytes:
    from drivers.printers.zpl import FORMATS
    return FORMATS[config.format](ticket)


def _send(config, job: bytes, ticket):
    from drivers.printers.transport import send_tcp
    return send_tcp(job, config.host, config.port, status.ZPL, config.timeout, config.check_status)


LANGUAGE = register(PrinterLanguage(
    name="zpl", label="Zebra label printer (ZPL)", kind="ticket", connections=("network",), default_port=9100,
    render=_render, send=_send, formats=("show", "cinema"),
    format_labels=("Show ticket (landscape)", "Cinema ticket (portrait)"),
    status=status.ZPL, service_types=("_pdl-datastream._tcp.local.",), models=("zebra", "zpl")))
