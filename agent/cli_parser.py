"""The argument parser of every `ticketgate` command: argparse's, with the words a newcomer needs when a command
line is wrong — the close command or option for a typo ("did you mean 'event'?"), and the list of sub-commands
when none was given (argparse said only "the following arguments are required: cmd")."""
from __future__ import annotations

import argparse
import difflib
import sys
from typing import Any, NoReturn, Sequence


def close_words(word: str, known: Sequence[str]) -> list[str]:
    """The known words `word` is most likely a typo of (a prefix counts too: `serv` -> `serve`, `server`)."""
    prefixed = [k for k in known if len(word) >= 2 and k.startswith(word)]
    return prefixed[:3] or difflib.get_close_matches(word, list(known), n=3, cutoff=0.6)


def did_you_mean(word: str, known: Sequence[str]) -> str:
    """"; did you mean 'x'?" ("'x' or 'y'") for a typo of one of `known`, else ''."""
    close = close_words(word, known)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:   # type: ignore[type-arg]
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose sub-parsers are Parsers too (argparse makes them of the parent's class)."""

    _argv: list[str] = []

    def parse_known_args(self, args: Sequence[str] | None = None,           # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self._argv, namespace)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices and isinstance(value, str):
            known = [str(c) for c in action.choices]
            hint = did_you_mean(value, known)
            if isinstance(action, argparse._SubParsersAction):
                raise argparse.ArgumentError(
                    action, f"no command {value!r}{hint} (the commands: {', '.join(known)}; "
                            f"`{self.prog} --help` says what each does)")
            if hint:
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} (choose from "
                                                     f"{', '.join(repr(k) for k in known)})")
        super()._check_value(action, value)

    def error(self, message: str) -> NoReturn:
        sub = _subcommands(self)
        if sub is not None and message.startswith("the following arguments are required:") \
                and sub.dest in message.split(":", 1)[1].replace(" ", "").split(","):
            self.print_help(sys.stderr)
            self.exit(2, f"\n{self.prog}: give one of the commands above, e.g. "
                         f"`{self.prog} {next(iter(sub.choices))} --help`\n")
        if " no command " in message:           # "argument cmd: no command 'x'": the dest means nothing to a user
            message = message.split(": ", 1)[1]
        if message.startswith("unrecognized arguments:"):
            message += self._option_hints(message.split(":", 1)[1].split())
        super().error(message)

    def _option_hints(self, unknown: list[str]) -> str:
        """'; did you mean --events?' for each unknown option close to one of the innermost command's."""
        parser: argparse.ArgumentParser = self
        for word in self._argv:
            sub = _subcommands(parser)
            if sub is not None and word in sub.choices:
                parser = sub.choices[word]
        options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
        hints = [f"{' or '.join(close_words(w.split('=')[0], options))} instead of {w.split('=')[0]}"
                 for w in unknown if w.startswith("--") and close_words(w.split("=")[0], options)]
        return f"; did you mean {', '.join(hints)}? (`{parser.prog} --help` lists its options)" if hints else \
            f" (`{parser.prog} --help` lists its options)"
