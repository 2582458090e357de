"""`ticketgate kiosk`: open the app, or render one screen offscreen into a PNG and exit.

    ticketgate kiosk                                   # the app, on this device's agent data
    ticketgate kiosk --demo                            # the app on a fresh demo device (temporary folder)
    ticketgate kiosk --screenshot scan.png --screen scan --lang fr --size 720x1280 [--demo]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from agent.cli_parser import Parser

SCREEN_NAMES = ("scan", "search", "events", "kiosk", "sell", "stats", "sync", "setup", "menu")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="ticketgate kiosk", description="the Kivy app (door scanning and kiosk screens)")
    p.add_argument("--home", type=Path, help="device folder (default $TICKETGATE_HOME or "
                                             "~/.local/share/ticketgate/device, the agent's)")
    p.add_argument("--demo", action="store_true", help="use a fresh demo device in a temporary folder")
    p.add_argument("--screen", choices=SCREEN_NAMES, default="scan", help="first screen (default scan)")
    p.add_argument("--lang", choices=("fr", "en"), help="language (default: the device's)")
    p.add_argument("--size", default=None, help="window size WxH in pixels (default 720x1280, a 5\" handheld)")
    p.add_argument("--density", type=float, help="pixels per dp (default 2 in portrait, 1 in landscape)")
    p.add_argument("--screenshot", type=Path, metavar="PATH", help="render offscreen, save a PNG there and exit")
    p.add_argument("--smoke", action="store_true",
                   help="start the real app, print 'first-screen <name> <unix time>' once it is drawn, and quit")
    return p


def _size(text: str | None) -> tuple[int, int]:
    from kiosk_ui.offscreen import PORTRAIT
    if not text:
        return PORTRAIT
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"ticketgate kiosk: --size takes WxH, e.g. 720x1280, not {text!r}") from None
    if not (200 <= w <= 4000 and 200 <= h <= 4000):
        raise SystemExit("ticketgate kiosk: --size must be between 200 and 4000 pixels each way")
    return w, h


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    size = _size(args.size)
    from kiosk_ui.offscreen import offscreen_env
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    offscreen_env(size, args.density, headless=args.screenshot is not None or (args.smoke and no_display))
    from agent.home import HomeError
    from agent.ledger import LedgerError
    from kiosk_ui import i18n
    try:
        ctl, tmp = _controller(args)
    except (LedgerError, HomeError) as exc:
        print(f"ticketgate kiosk: {exc}", file=sys.__stderr__)   # Kivy captures sys.stderr into its log
        return 3
    from agent.language import SETTING, choose          # one rule with the terminal commands (`agent scan --lang`)
    i18n.set_language(choose(args.lang, ctl.door.ledger.get_setting(SETTING)))
    try:
        if args.screenshot:
            from kiosk_ui.offscreen import Harness
            harness = Harness(ctl, args.screen)
            print(harness.screenshot(args.screenshot))
            return 0
        from kiosk_ui.app import KioskApp
        app = KioskApp(ctl, args.screen)
        if args.smoke:
            app.after_first_frame = _report_and_stop
        app.run()
        return 0
    finally:
        ctl.door.close()
        if tmp is not None:
            tmp.cleanup()


def _report_and_stop(app) -> None:
    import time
    print(f"first-screen {app.ui.manager.current} {time.time():.3f}", flush=True)
    app.stop()


def _controller(args):
    from kiosk_ui.adapters import build_services
    from kiosk_ui.controller import Controller
    from kiosk_ui.door import Door
    tmp = None
    demo = None
    if args.demo:
        from kiosk_ui.demo_data import seed
        tmp = tempfile.TemporaryDirectory(prefix="ticketgate-kiosk-demo-")
        demo = seed(tmp.name)
        door = demo.door
        home = Path(tmp.name)
    else:
        from agent.home import resolve_home
        home = resolve_home(args.home)
        door = Door.open_home(home)
    live = not args.screenshot            # screenshots never open the camera or play sounds
    ctl = Controller(door, build_services(door, home, camera=live, feedback=live))
    if demo is not None and ctl.services.desk.available:
        from kiosk_ui.demo_data import seed_desk
        seed_desk(demo, ctl.services.desk)    # prices, promotions, stock and an allotment: the demo desk sells
    return ctl, tmp
