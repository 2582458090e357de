"""ESC/POS receipt printers (Epson TM, most 58/80 mm thermal printers): the ticket built by `escpos_job`, sent over
raw TCP 9100 with DLE EOT status checks, or through python-escpos' USB / serial / file connections."""
from __future__ import annotations

from drivers.printers import status
from drivers.printers.registry import PrinterLanguage, register


def _render(ticket, config) -> bytes:
    from drivers.printers.escpos_job import ticket_bytes
    return ticket_bytes(ticket, profile=config.escpos_profile, native_qr=config.native_qr)


def _send(config, job: bytes, ticket):
    if config.connection == "network":
        from drivers.printers.transport import send_tcp
        return send_tcp(job, config.host, config.port, status.ESCPOS, config.timeout, config.check_status)
    from drivers.printers.escpos_devices import send_escpos
    return send_escpos(job, config.connection, config.check_status, **(config.device or {}))


LANGUAGE = register(PrinterLanguage(
    name="escpos", label="Receipt printer (ESC/POS)", kind="ticket", connections=("network", "usb", "serial", "file"),
    default_port=9100, render=_render, send=_send, status=status.ESCPOS,
    service_types=("_pdl-datastream._tcp.local.",), models=("epson", "tm-", "esc/pos", "escpos", "star")))
