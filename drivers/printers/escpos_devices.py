"""ESC/POS over python-escpos connections (USB, serial, file/device node), for printers not on the network.
Network printers go through `transport.send_tcp` (status checks, deadlines)."""
from __future__ import annotations

import time

from drivers.printers.model import PrintResult


def open_printer(kind: str, **kw):
    """kind: usb (idVendor, idProduct), serial (devfile, baudrate), file (devfile, e.g. /dev/usb/lp0)."""
    from escpos import printer
    classes = {"usb": printer.Usb, "serial": printer.Serial, "file": printer.File}
    if kind not in classes:
        raise ValueError(f"unknown ESC/POS connection {kind!r}; one of {', '.join(classes)}")
    return classes[kind](**kw)


def send_escpos(job: bytes, kind: str, check_status: bool = True, **kw) -> PrintResult:
    t0 = time.perf_counter()
    name = f"{kind}:{kw.get('devfile') or kw.get('idVendor') or ''}"
    try:
        device = open_printer(kind, **kw)
        device.open()
    except Exception as exc:   # escpos raises DeviceNotFoundError, USBNotFoundError, OSError, SerialException…
        return PrintResult.done(False, "printer {name} cannot be opened ({why}). Not printed.", name, name=name,
                                why=f"{type(exc).__name__}: {exc}")
    try:
        if check_status and kind != "file":
            try:
                paper = device.paper_status()      # 2 ok, 1 near end, 0 out
            except Exception:
                paper = None
            if paper == 0:
                return PrintResult.done(False, "printer {name}: {status}. Not printed.", name, name=name,
                                        status="out of paper: load a new roll")
        device._raw(job)
        if hasattr(device, "flush"):
            device.flush()
        return PrintResult.done(True, "printed", name, len(job), (time.perf_counter() - t0) * 1000)
    except Exception as exc:
        return PrintResult.done(False, "printer {name} failed mid-job ({why}). Not printed.", name, name=name,
                                why=f"{type(exc).__name__}: {exc}")
    finally:
        try:
            device.close()
        except Exception:
            pass
