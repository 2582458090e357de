"""A real mosquitto for tests and benchmarks: own config, free loopback port, stopped by PID.

    with Mosquitto(tmp_path) as broker:          # anonymous, 127.0.0.1:<free port>
        broker.port
    Mosquitto(tmp_path, password_file=..., acl_file=...)   # authenticated, per-device ACLs; broker.reload()

The same class the demo uses to run its own broker (server_stub/sync/broker_process.py).
"""
from server_stub.sync.broker_process import BrokerProcess as Mosquitto, free_port, mosquitto_binary

__all__ = ["Mosquitto", "free_port", "mosquitto_binary"]
