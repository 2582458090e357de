"""Revocation: the credentials stop working at once, and the device wipes orders, names and keys — on the
organiser's signed wipe only (cmd topic, or fetched from the enrollment endpoint after a refused login)."""
from __future__ import annotations

import time
import uuid

import pytest

from agent.history import Action
from agent.ledger import Ledger
from agent.sync import signed, topics
from provisioning.device.link import DeviceLink
from provisioning.mqtt_connect import Refused
from tests.helpers import wait_for
from tests.test_provision_env import ORG, close, enroll_device, login, provision_env, server_login

NAME = "Zacharias Quelloworth"


@pytest.fixture
def env(tmp_path):
    with provision_env(tmp_path) as e:
        yield e


def _fill_ledger(path) -> None:
    ledger = Ledger.open(path)
    ledger.upsert_events([{"event_id": 1, "name": "Day 1", "starts_at": 0, "ends_at": 1e10}])
    ledger.upsert_tickets([{"ticket_key": "T1", "event_id": 1, "order_number": "K7M2-Q9", "buyer_name": NAME,
                            "email": "zq@example.org"}])
    ledger.record("T1", Action(str(uuid.uuid4()), "entry", time.time(), "dev", "north", 1, "in"))
    assert ledger.search("Quelloworth")
    ledger.close()


def _assert_wiped(state) -> None:
    assert not state.credentials_path.exists() and not state.key_path.exists() and not state.keyring_path.exists()
    ledger = Ledger.open(state.ledger_path)
    assert ledger.search("Quelloworth") == [] and ledger.ticket("T1") is None
    assert ledger.counts()["checkins"] == 1          # the scan log (no names) stays
    ledger.close()
    for suffix in ("", "-wal"):
        path = state.ledger_path.with_name(state.ledger_path.name + suffix)
        if path.exists():
            assert NAME.encode() not in path.read_bytes(), f"name left in {path.name}"


def test_connected_device_is_cut_off_and_wiped(env, tmp_path):
    state, creds = enroll_device(env, tmp_path / "a")
    _fill_ledger(state.ledger_path)
    link = DeviceLink(state)
    link.connect()
    env.prov.revoke(creds.device_id)
    with pytest.raises(Refused):
        login(env, creds.username, creds.password)
    assert wait_for(lambda: link.wiped is not None)
    _assert_wiped(state)
    assert env.store.device(creds.device_id)["revoked"]
    assert creds.device_id not in env.prov.paths.password_file.read_text()
    assert creds.device_id not in env.prov.paths.acl_file.read_text()
    link.close()


def test_offline_device_wipes_on_the_signed_revocation_after_its_login_is_refused(env, tmp_path):
    state, creds = enroll_device(env, tmp_path / "a")
    _fill_ledger(state.ledger_path)
    env.prov.revoke(creds.device_id)          # the device was switched off: it never saw the wipe command
    link = DeviceLink(state)
    assert link.connect(timeout=2) is None    # refused -> asks the endpoint -> organiser's signed wipe
    _assert_wiped(state)
    assert not state.link_path.exists()


def test_revocation_answer_only_for_revoked_devices(env, tmp_path):
    import json
    import urllib.error
    import urllib.request
    from provisioning.device import revocation
    _, a = enroll_device(env, tmp_path / "a")
    _, b = enroll_device(env, tmp_path / "b")
    assert revocation.ask(env.server, a.device_id) is None                 # not revoked: 404
    assert revocation.ask(env.server, "dev-neverseen") is None
    env.prov.revoke(a.device_id)
    wipe = revocation.ask(env.server, a.device_id)
    body = signed.Verifier(a.server_key).open(wipe)
    assert (body["cmd"], body["device"], body["org"]) == ("wipe", a.device_id, ORG)
    assert revocation.ask(env.server, b.device_id) is None                 # the others are untouched
    req = urllib.request.Request(f"http://{env.server}/v1/revocation", data=json.dumps({"device": "a/#"}).encode(),
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(req, timeout=3)
    assert bad.value.code == 400 and "device id" in json.loads(bad.value.read())["error"]


def test_other_devices_keep_working_after_a_revocation(env, tmp_path):
    _, a = enroll_device(env, tmp_path / "a")
    _, b = enroll_device(env, tmp_path / "b")
    other, inbox = login(env, b.username, b.password, client_id=b.device_id, subscribe=[topics.cmd(ORG, b.device_id)])
    env.prov.revoke(a.device_id)
    server, _ = server_login(env)
    server.publish(topics.cmd(ORG, b.device_id), b"still-here", qos=1).wait_for_publish(3)
    assert inbox.wait_for(topics.cmd(ORG, b.device_id), b"still-here")
    close(other), close(server)


def test_forged_or_misaddressed_wipe_is_ignored(env, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    state, creds = enroll_device(env, tmp_path / "a")
    _, other = enroll_device(env, tmp_path / "b")
    link = DeviceLink(state)
    body = {"type": "cmd", "cmd": "wipe", "id": "x", "ts": time.time(), "org": ORG, "device": creds.device_id}
    link.on_command(signed.seal(body, Ed25519PrivateKey.generate().sign))                      # wrong key
    link.on_command(signed.seal(dict(body, device=other.device_id), env.store.server_key(ORG).sign))  # not for us
    link.on_command(b"{not json")
    link.on_command(b'{"cmd": "wipe"}')                                                         # unsigned
    assert link.wiped is None and state.enrolled()
    link.on_command(signed.seal(body, env.store.server_key(ORG).sign))
    assert link.wiped is not None and not state.enrolled()


def test_refused_login_of_a_device_that_is_not_revoked_is_not_a_revocation(env, tmp_path):
    state, creds = enroll_device(env, tmp_path / "a")
    link = DeviceLink(state)
    link.creds = type(creds)(**{**creds.__dict__, "password": "wrong"})
    with pytest.raises(Refused):
        link.connect(timeout=0.5)
    assert link.wiped is None and state.enrolled()
    assert link.status.state == "refused" and link.status.reason in ("Not authorized", "Bad user name or password")
    assert "not revoked" in link.status.revocation


def test_a_refused_login_with_the_enrollment_endpoint_down_keeps_everything_and_says_why_in_words(env, tmp_path):
    """The broker refuses the login and `provision serve`'s endpoint is down: nothing is wiped, and `provision
    status` said "revocation not checked (cannot reach … [Errno 111] Connection refused)" where every other command
    says what a refused connection means."""
    state, creds = enroll_device(env, tmp_path / "a")
    env.http.stop()
    link = DeviceLink(state)
    link.creds = type(creds)(**{**creds.__dict__, "password": "wrong"})
    with pytest.raises(Refused):
        link.connect(timeout=0.5)
    assert link.wiped is None and state.enrolled()
    said = link.status.describe()
    assert f"cannot reach the enrollment endpoint at {env.server}: connection refused (nothing listens" in said, said
    assert "Errno" not in said


def test_another_organiser_in_the_same_data_folder_neither_revokes_our_doors_nor_locks_our_server_out(env, tmp_path):
    """Two organisers in one data folder (`server init` twice) share its broker. `provision revoke --org gamma
    dev-of-acme` revoked acme's door, and every broker rewrite of gamma's (that one, its `serve`) kept gamma's
    server logins only: acme's `server serve|push` were refused ("Not authorized") from then on. The server login
    also read and wrote every organiser's topics (tg/#)."""
    from provisioning.server.runtime import Provisioning
    state, creds = enroll_device(env, tmp_path / "a")
    env.store.create_organiser("gamma", "Gamma")
    env.store.current_key("gamma")
    gamma = Provisioning(env.prov.paths.state, env.store, "gamma", env.prov.admin.endpoint, reload=env.broker.reload)
    try:
        with pytest.raises(KeyError, match="of gamma"):
            gamma.revoke(creds.device_id)
        assert env.prov.registry.credential(creds.device_id).revoked_at is None
        gamma.write_broker_files(reload=True)
        time.sleep(0.6)                                   # the reload, and its second signal (RESIGNAL_AFTER)
        server, _ = server_login(env)                     # acme's server still logs in
        close(server)
        door = DeviceLink(state)
        assert door.connect(timeout=5) is not None        # and so does acme's door
        username, password = gamma.registry.server_login("gamma")
        spy, inbox = login(env, username, password, [topics.up(ORG, creds.device_id)], client_id=username)
        door.client.publish(topics.up(ORG, creds.device_id), b"{}", qos=1).wait_for_publish(3)
        assert not inbox.wait_for(topics.up(ORG, creds.device_id), timeout=1.0)    # not gamma's to read
        close(spy)
        door.close()
    finally:
        gamma.close()


def test_revoking_an_unknown_device_is_a_clear_error(env):
    with pytest.raises(KeyError):
        env.prov.revoke("dev-nosuchdevice")


def test_revoke_while_the_broker_is_down_takes_effect_when_it_starts(env, tmp_path):
    state, creds = enroll_device(env, tmp_path / "a")
    env.broker.stop()
    timings = env.prov.revoke(creds.device_id)
    assert "taken_over" not in timings and "removed" in timings
    env.broker.start()
    with pytest.raises(Refused):
        login(env, creds.username, creds.password)
    _, b = enroll_device(env, tmp_path / "b")      # and enrollment goes on
    close(login(env, b.username, b.password)[0])
