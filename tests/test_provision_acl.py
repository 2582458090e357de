"""Per-device credentials and ACLs against a real mosquitto: what an enrolled device may and may not do."""
from __future__ import annotations

import pytest

from agent.sync import topics
from provisioning.mqtt_connect import Refused
from tests.test_provision_env import ORG, close, enroll_device, login, provision_env, server_login


@pytest.fixture
def env(tmp_path):
    with provision_env(tmp_path) as e:
        yield e


def test_enrolled_device_publishes_scans_and_reads_its_topics(env, tmp_path):
    _, creds = enroll_device(env, tmp_path / "a", events=(env.events[0],))
    server, server_inbox = server_login(env, subscribe=[f"tg/{ORG}/dev/+/up"])
    dev, inbox = login(env, creds.username, creds.password, client_id=creds.device_id,
                       subscribe=[topics.down(ORG, creds.device_id), topics.cmd(ORG, creds.device_id),
                                  topics.live(ORG, env.events[0])])
    assert all(not rc[0].is_failure for rc in dev.granted.values())
    dev.publish(topics.up(ORG, creds.device_id), b"scan-batch-1", qos=1).wait_for_publish(3)
    assert server_inbox.wait_for(topics.up(ORG, creds.device_id), b"scan-batch-1")
    for topic in (topics.down(ORG, creds.device_id), topics.cmd(ORG, creds.device_id), topics.live(ORG, env.events[0])):
        server.publish(topic, b"from-server", qos=1).wait_for_publish(3)
        assert inbox.wait_for(topic, b"from-server"), topic
    close(dev), close(server)


def test_device_cannot_touch_another_device_or_other_events(env, tmp_path):
    _, a = enroll_device(env, tmp_path / "a", events=(env.events[0],))
    _, b = enroll_device(env, tmp_path / "b", events=(env.events[1],))
    server, server_inbox = server_login(env, subscribe=["tg/#"])
    spy_topics = [topics.down(ORG, b.device_id), topics.cmd(ORG, b.device_id), topics.up(ORG, b.device_id),
                  topics.live(ORG, env.events[1]), f"tg/{ORG}/dev/+/cmd", "tg/#"]
    spy, spy_inbox = login(env, a.username, a.password, client_id=a.device_id, subscribe=spy_topics)
    # mosquitto 2.0 may grant such a SUBACK; the ACL is enforced on delivery, which is what is checked below
    # the server talks to B: A hears nothing of it
    for topic in (topics.cmd(ORG, b.device_id), topics.down(ORG, b.device_id), topics.live(ORG, env.events[1])):
        server.publish(topic, b"for-b", qos=1).wait_for_publish(3)
    # A tries to write into B's topics and the server's: the broker drops it
    for topic in (topics.up(ORG, b.device_id), topics.cmd(ORG, b.device_id), topics.down(ORG, a.device_id),
                  topics.live(ORG, env.events[0]), topics.server_status(ORG)):
        spy.publish(topic, b"forged", qos=1).wait_for_publish(3)
    spy.publish(topics.up(ORG, a.device_id), b"marker", qos=1).wait_for_publish(3)
    assert server_inbox.wait_for(topics.up(ORG, a.device_id), b"marker")   # everything before it has been routed
    assert not any(p == b"forged" for _, p in server_inbox.items)
    assert not spy_inbox.wait_for(topics.cmd(ORG, b.device_id), timeout=0.3)
    assert spy_inbox.items == []
    close(spy), close(server)


def test_client_id_spoof_is_refused(env, tmp_path):
    _, a = enroll_device(env, tmp_path / "a")
    _, b = enroll_device(env, tmp_path / "b")
    victim, victim_inbox = login(env, a.username, a.password, client_id=a.device_id,
                                 subscribe=[topics.cmd(ORG, a.device_id)])
    # B's password under A's name: refused
    with pytest.raises(Refused):
        login(env, a.username, b.password, client_id=a.device_id)
    # B's own login claiming A's client id: the broker uses B's username as client id, A keeps its session
    spoof, spoof_inbox = login(env, b.username, b.password, client_id=a.device_id,
                               subscribe=[topics.cmd(ORG, a.device_id)])
    server, _ = server_login(env)
    server.publish(topics.cmd(ORG, a.device_id), b"still-a", qos=1).wait_for_publish(3)
    assert victim_inbox.wait_for(topics.cmd(ORG, a.device_id), b"still-a")
    assert victim.is_connected()
    assert spoof_inbox.items == []
    assert f"as {b.device_id}" in env.broker.log_path.read_text()
    close(victim), close(spoof), close(server)


def test_wrong_and_anonymous_logins_refused(env, tmp_path):
    _, a = enroll_device(env, tmp_path / "a")
    with pytest.raises(Refused):
        login(env, a.username, "not-the-password")
    with pytest.raises(Refused):
        login(env, "dev-unknown", a.password)
    with pytest.raises(Refused):
        login(env, "", "")


def test_tls_listener_enroll_and_connect(tmp_path):
    with provision_env(tmp_path, tls=True) as env:
        state, creds = enroll_device(env, tmp_path / "a")
        assert creds.broker.tls and "BEGIN CERTIFICATE" in creds.broker.ca_pem
        dev, inbox = login(env, creds.username, creds.password, client_id=creds.device_id,
                           subscribe=[topics.cmd(ORG, creds.device_id)])
        server, _ = server_login(env)
        server.publish(topics.cmd(ORG, creds.device_id), b"over-tls", qos=1).wait_for_publish(3)
        assert inbox.wait_for(topics.cmd(ORG, creds.device_id), b"over-tls")
        close(dev), close(server)


def test_client_id_spoof_refused_on_the_tls_listener_too(tmp_path):
    with provision_env(tmp_path, tls=True) as env:
        _, a = enroll_device(env, tmp_path / "a")
        _, b = enroll_device(env, tmp_path / "b")
        victim, inbox = login(env, a.username, a.password, client_id=a.device_id, subscribe=[topics.cmd(ORG, a.device_id)])
        spoof, _ = login(env, b.username, b.password, client_id=a.device_id)
        server, _ = server_login(env)
        server.publish(topics.cmd(ORG, a.device_id), b"still-a", qos=1).wait_for_publish(3)
        assert inbox.wait_for(topics.cmd(ORG, a.device_id), b"still-a") and victim.is_connected()
        close(victim), close(spoof), close(server)
