"""Users' paths across parts, walked through the public commands only (`ticketgate …` subprocesses, fresh HOME, the
provisioned broker, `server serve`, real SQLite files). Each test fails on the defect it names."""
from __future__ import annotations

import json
from functools import partial

import pytest

from tests.broker import mosquitto_binary
from tests.helpers import provision_serve, stop_process, wait_for_line
from tests.test_qa_skew import _event_now
from tests.test_qa_user_paths import _start, tg

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


def _sync(home, *more: str) -> dict:
    said = tg(home, "agent", "sync", "--until-idle", "--for", "40", "--json", *more).stdout
    return json.loads(said.strip().splitlines()[-1])


def test_a_second_server_push_is_not_reported_as_a_refused_message(tmp_path):
    """The organiser ran `server push` again with nothing changed (or a staff change had already brought the
    version): every door up to date then reported "1 message(s) refused … stale or replayed bundle: version N,
    device has N", which reads like an attack, on every sync. The same version again is a duplicate: dropped
    quietly; an older one is still refused."""
    home = tmp_path / "home"
    home.mkdir()
    _event_now(home)
    prov, http_port = provision_serve(partial(_start, home), seconds=150)
    serve = None
    try:
        serve = _start(home, "server", "serve")
        assert wait_for_line(serve, "sync server", 30)
        sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north",
                   "--out", str(home / "doors.pdf")).stdout
        tg(home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server",
           f"127.0.0.1:{http_port}")
        tg(home, "server", "push")
        assert _sync(home)["rejected"] == []
        tg(home, "server", "push")                       # nothing changed: the same version again
        summary = _sync(home)
        assert summary["rejected"] == [], summary
        assert json.loads(tg(home, "agent", "status", "--json").stdout)["counts"]["tickets"] == 2
    finally:
        if serve is not None:
            stop_process(serve)
        stop_process(prov)
