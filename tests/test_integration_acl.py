"""Provisioning's ACL lets a device read its organiser's server presence (so it says hello again after a server
restart) and still nothing of other devices or other organisers. Real mosquitto with provisioning's files."""
from __future__ import annotations

from agent.sync import topics
from tests.test_provision_env import ORG, close, enroll_device, login, provision_env, server_login


def test_device_reads_server_status_but_not_other_devices(tmp_path):
    with provision_env(tmp_path / "env") as env:
        _, a = enroll_device(env, tmp_path / "a", events=(env.events[0],))
        _, b = enroll_device(env, tmp_path / "b", events=(env.events[1],))
        server, _ = server_login(env)
        server.publish(topics.server_status(ORG), b'{"state":"online"}', qos=1, retain=True).wait_for_publish(3)
        server.publish(topics.server_status("other-org"), b'{"state":"online"}', qos=1, retain=True).wait_for_publish(3)
        dev, inbox = login(env, a.username, a.password, client_id=a.device_id,
                           subscribe=[topics.server_status(ORG), topics.server_status("other-org"), "tg/#",
                                      topics.down(ORG, a.device_id)])
        assert inbox.wait_for(topics.server_status(ORG), b'{"state":"online"}')      # retained presence arrives
        for topic in (topics.down(ORG, b.device_id), topics.cmd(ORG, b.device_id), topics.device_status(ORG, b.device_id),
                      topics.live(ORG, env.events[1])):
            server.publish(topic, b"for-b", qos=1).wait_for_publish(3)
        server.publish(topics.down(ORG, a.device_id), b"marker", qos=1).wait_for_publish(3)
        assert inbox.wait_for(topics.down(ORG, a.device_id), b"marker")   # everything before it has been routed
        assert {t for t, _ in inbox.items} == {topics.server_status(ORG), topics.down(ORG, a.device_id)}
        assert not any(p == b"for-b" for _, p in inbox.items)
        # reading is not writing: the device cannot fake the server's presence
        dev.publish(topics.server_status(ORG), b'{"state":"forged"}', qos=1, retain=True).wait_for_publish(3)
        watcher, watch_inbox = server_login(env, subscribe=[topics.server_status(ORG)])
        assert watch_inbox.wait_for(topics.server_status(ORG), b'{"state":"online"}')
        assert all(p != b'{"state":"forged"}' for _, p in watch_inbox.items)
        close(dev), close(server), close(watcher)
