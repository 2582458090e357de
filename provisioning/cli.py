"""`ticketgate provision …`: both sides of enrollment.

Organiser / technician laptop:          serve, tokens create, wifi-qr, devices, revoke
Door device:                            discover, enroll, status, wipe
Each takes --help. Exit codes: 0 done, 1 refused/failed (message on stderr), 2 usage.
"""
from __future__ import annotations

import argparse

from agent.cli import parsed
from agent.errors import TicketgateError
from provisioning.cli_output import fail
from agent.cli_parser import Parser


def build_parser() -> argparse.ArgumentParser:
    from provisioning import cli_device, cli_server
    parser = Parser(prog="ticketgate provision", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cli_server.add_commands(sub)
    cli_device.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parsed(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        return int(args.run(args) or 0)
    except TicketgateError as exc:        # refused on purpose (no data folder, unknown organiser…): said plainly
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
