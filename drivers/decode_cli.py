"""`ticketgate decode FILE… [--json] [--keyring FILE] [--password-file FILE | --ask-password]`: the QR texts in
images and PDF files (every page), and the verdict when one is a ticket.

For support (a buyer sends a screenshot or the e-ticket PDF) and as the entry point of the decode benchmark
(`--corpus DIR`).
Nothing is checked in: the ticket is verified against the keyring only (signature, key, validity of the key).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from agent.errors import TicketgateError
from agent.keyring import Keyring
from agent.payload import MALFORMED, Decoded, read_payload
from agent.ticket_format import SCHEME
from agent.cli_parser import Parser


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="ticketgate decode", description="decode the QR codes in images (PNG, JPEG, WebP…) and PDF e-tickets "
        "(every page, rendered with poppler's pdftoppm), and verify the tickets among them",
        epilog="exit code: 0 every file (every PDF page) has a code, 1 one has none, 2 a file cannot be read "
               "(missing, damaged, a password-protected PDF without its password or with a wrong one): said on its "
               "line, the other files are still decoded")
    p.add_argument("images", nargs="*", type=Path, metavar="FILE", help="an image or a PDF (any number)")
    p.add_argument("--json", action="store_true", help="one JSON object per file (a PDF's codes name their page)")
    p.add_argument("--keyring", type=Path, help="keyring JSON (default: the agent home's keyring.json)")
    p.add_argument("--home", type=Path, help="device folder (default $TICKETGATE_HOME or "
                                             "~/.local/share/ticketgate/device)")
    p.add_argument("--password-file", type=Path, metavar="FILE",
                   help="the password of password-protected PDFs: the file's first line (`-`: read it from standard "
                        "input). Never on the command line, where the process list and shell history keep it")
    p.add_argument("--ask-password", action="store_true",
                   help="ask for the password of password-protected PDFs (typed, not shown)")
    p.add_argument("--corpus", type=Path, help="benchmark: read every image with its expected .txt, per library and chain")
    return p


def load_keyring(path: Path | None, home: Path | None) -> tuple[Keyring, str]:
    if path is None:
        from agent.home import DeviceHome, HomeError, resolve_home
        try:
            path = DeviceHome(resolve_home(home)).keyring_path
        except HomeError as exc:
            return Keyring(), f"{exc}: tickets cannot be verified"
        if not path.exists():
            return Keyring(), f"no keyring at {path}: tickets cannot be verified"
    try:
        return Keyring.load(path), ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Keyring(), f"keyring {path} unreadable ({exc}): tickets cannot be verified"


def ticket_verdict(text: str, keyring: Keyring, now: float) -> dict | None:
    """The verification outcome when the text is a ticket (ours or pretix), else None."""
    decoded: Decoded = read_payload(text, keyring, now)
    if decoded.status == MALFORMED and not text.startswith(SCHEME):
        return None
    out: dict[str, Any] = {"status": decoded.status, "detail": decoded.detail}
    t = decoded.ticket
    if t is not None:
        out["ticket"] = {"key": t.key, "key_id": t.key_id, "event_id": t.event_id, "ticket_id": t.ticket_id,
                         "category": t.category, "zones": list(t.zones), "seat": t.seat, "valid_from": t.valid_from,
                         "valid_until": t.valid_until, "is_pass": t.is_pass, "scheme": t.scheme}
    return out


def decode_image(path: Path, chain, keyring: Keyring, now: float, password: str | None = None) -> dict:
    from drivers.pdf_pages import is_pdf
    if is_pdf(path):
        return decode_pdf(path, chain, keyring, now, password)
    from drivers.image_file import ImageUnreadable, read_gray
    try:
        gray = read_gray(path)
    except ImageUnreadable as exc:   # missing, truncated, not an image, too many pixels: reported, the others go on
        return {"path": str(path), "error": f"cannot read image: {exc}", "texts": []}
    except Exception as exc:         # a Pillow plugin's own failure: reported the same way
        return {"path": str(path), "error": f"cannot read image: {type(exc).__name__}: {exc}", "texts": []}
    try:
        result = chain.decode(gray)
    except Exception as exc:         # a decoder library's own limit or failure: this file's error, the others go on
        return {"path": str(path), "error": f"the decoders failed on it ({type(exc).__name__}: {exc})", "texts": []}
    codes = [{"text": t, "verdict": ticket_verdict(t, keyring, now)} for t in result.texts]
    entry = {"path": str(path), "texts": list(result.texts), "codes": codes, "step": result.step,
             "ms": round(result.ms, 2)}
    if result.capped:       # every step did not run: the time cap stopped the search
        entry["capped_ms"] = chain.still_cap_ms
    return entry


def decode_pdf(path: Path, chain, keyring: Keyring, now: float, password: str | None = None) -> dict:
    """Every page of a PDF: the codes with their page, the pages without any (`empty_pages`)."""
    from drivers.pdf_pages import PdfUnreadable, pages
    codes: list[dict] = []
    empty: list[int] = []
    ms, count = 0.0, 0
    try:
        for number, gray in pages(path, password):
            result = chain.decode(gray)
            ms, count = ms + result.ms, number
            codes += [{"text": t, "verdict": ticket_verdict(t, keyring, now), "page": number} for t in result.texts]
            if not result.texts:
                empty.append(number)
    except PdfUnreadable as exc:
        return {"path": str(path), "error": f"cannot read PDF: {exc}", "texts": [c["text"] for c in codes]}
    return {"path": str(path), "pages": count, "texts": [c["text"] for c in codes], "codes": codes,
            "empty_pages": empty, "ms": round(ms, 2)}


def human(entry: dict) -> str:
    if "error" in entry:
        return f"{entry['path']}: {entry['error']}"
    pdf = "pages" in entry
    if not entry["texts"]:
        where = f" on its {entry['pages']} page(s)" if pdf else ""
        if "capped_ms" in entry:
            return (f"{entry['path']}: no QR code found{where}: the search stopped at its {entry['capped_ms']:g} ms "
                    f"limit ({entry['ms']} ms)")
        return f"{entry['path']}: no QR code found{where} ({entry['ms']} ms)"
    how = f"{entry['pages']} page(s)" if pdf else entry["step"]
    lines = [f"{entry['path']}: {len(entry['texts'])} code(s) ({how}, {entry['ms']} ms)"]
    for code in entry["codes"]:
        lines.append(f"  {'page ' + str(code['page']) + ': ' if pdf else ''}{code['text']!r}")
        v = code["verdict"]
        if v:
            t = v.get("ticket") or {}
            what = f"ticket {t['key']} event {t['event_id']}" if t else ""
            lines.append(f"    -> {v['status'].upper()} {what} {v['detail']}".rstrip())
    if entry.get("empty_pages"):
        lines.append(f"  no QR code on page(s) {', '.join(map(str, entry['empty_pages']))}")
    return "\n".join(lines)


class PasswordUnavailable(TicketgateError):
    """--password-file or --ask-password gave no password: the message says why."""


def read_password(file: Path | None, ask: bool) -> str | None:
    """The PDFs' password from a file's first line (`-`: standard input) or typed at a prompt that does not show it;
    None when neither was asked for."""
    if file is not None and ask:
        raise PasswordUnavailable("give --password-file or --ask-password, not both")
    if ask:
        import getpass
        try:
            typed = getpass.getpass("PDF password: ")
        except (EOFError, KeyboardInterrupt):
            raise PasswordUnavailable("no password typed") from None
        if not typed:
            raise PasswordUnavailable("no password typed")
        return typed
    if file is None:
        return None
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordUnavailable(f"cannot read the password file {file}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise PasswordUnavailable(f"the password file {file} is empty: its first line is the password")
    return lines[0]


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.corpus:
        from drivers.camera.measure import main as measure_main
        return measure_main([str(args.corpus)] + (["--json"] if args.json else []))
    if not args.images:     # the usage alone said nothing of what was missing
        build_parser().print_usage(sys.stderr)
        print("ticketgate decode: give the files to read, e.g. `ticketgate decode screenshot.png eticket.pdf` "
              "(a buyer's screenshot or e-ticket PDF); `ticketgate decode --help` says more", file=sys.stderr)
        return 2
    try:
        password = read_password(args.password_file, args.ask_password)
    except PasswordUnavailable as exc:
        print(f"ticketgate decode: {exc}; nothing was decoded", file=sys.stderr)
        return 2
    from drivers.camera.chain import DecoderChain
    keyring, warning = load_keyring(args.keyring, args.home)
    if warning and not args.json:
        print(warning, file=sys.stderr)
    chain, now, status = DecoderChain(), time.time(), 0
    for path in args.images:
        entry = decode_image(path, chain, keyring, now, password)
        if warning:
            entry["keyring_warning"] = warning
        print(json.dumps(entry, ensure_ascii=False) if args.json else human(entry), flush=True)
        status = max(status, 2 if "error" in entry else (0 if entry["texts"] and not entry.get("empty_pages") else 1))
    return status
