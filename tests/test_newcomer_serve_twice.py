"""`ticketgate server serve` started again in a second terminal while one runs (the organiser's guide: "keep it
running"; a newcomer opens another terminal for `server push` and types serve there too). Both logged in to the
broker under one client id and knocked each other off every second ("lost the broker … answers again"), neither
keeping up with the doors. Now the second is refused at once, naming the one running; the first goes on."""
from __future__ import annotations

import pytest

from tests.broker import mosquitto_binary
from tests.qa_organiser import organiser_running, tg

needs_broker = pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto not installed")


@needs_broker
def test_a_second_server_serve_on_one_data_folder_is_refused_and_the_first_keeps_its_broker(tmp_path):
    tg(tmp_path, "server", "init", "--org", "acme", "--name", "Acme")
    with organiser_running(tmp_path) as org:
        assert org.serve is not None
        second = tg(tmp_path, "server", "serve", ok=False)          # returns at once: no timeout needed
        assert second.returncode == 1, (second.stdout, second.stderr)
        assert "another `ticketgate server serve` runs on this data folder" in second.stderr, second.stderr
        assert f"pid {org.serve.pid}" in second.stderr and "Nothing was started" in second.stderr
        assert "sync server on" not in second.stdout
        assert org.serve.poll() is None                               # the first still runs
        org.stop_serve()
        org.start_serve()           # stopped, its folder is free again: serve starts
