import json, time
from tests.broker import free_port
from tests.helpers import stop_process, wait_for_line, wait_for
from tests.test_qa_user_paths import _start, tg
from tests.test_qa_skew import _event_now

def test_explore(tmp_path):
    home = tmp_path / "home"; home.mkdir()
    payloads = _event_now(home)
    http_port, broker_port = free_port(), free_port()
    args = ["provision", "serve", "--org", "acme", "--start-broker", "--listen", "127.0.0.1", "--port", str(http_port), "--advertise", "127.0.0.1", "--no-zeroconf", "--broker-port", str(broker_port), "--for", "200"]
    prov = _start(home, *args)
    serve = sync = None
    try:
        assert wait_for_line(prov, "enrollment endpoint", 30)
        serve = _start(home, "server", "serve")
        assert wait_for_line(serve, "sync server", 30)
        sheet = tg(home, "provision", "tokens", "create", "--org", "acme", "--count", "1", "--gate", "north", "--events", "1", "--out", str(home / "doors.pdf")).stdout
        tg(home, "provision", "enroll", "--code", sheet.split("code ")[-1].split()[0], "--server", f"127.0.0.1:{http_port}")
        tg(home, "server", "push")
        sync = _start(home, "agent", "sync", "--for", "120")
        time.sleep(4)
        tg(home, "agent", "scan", payloads[0])
        assert wait_for(lambda: json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 1, 20)
        stop_process(prov)
        time.sleep(2)
        tg(home, "agent", "scan", payloads[1])
        prov = _start(home, *args)
        assert wait_for_line(prov, "enrollment endpoint", 30)
        ok = wait_for(lambda: json.loads(tg(home, "server", "stats", "--json").stdout)["entries"] == 2, 40)
        print("after broker restart entries==2:", ok)
        tg(home, "server", "order", "cancel", json.loads(tg(home, "server", "order", "find", "Ann", "--json").stdout)[0]["number"])
        time.sleep(5)
        print(tg(home, "agent", "scan", "--json", payloads[1], ok=False).stdout)
        print(tg(home, "agent", "status").stdout)
    finally:
        for p in (sync, serve, prov):
            if p: stop_process(p)
    print("SYNC OUT", sync.stdout.read()[-2000:], sync.stderr.read()[-3000:])
    print("SERVE OUT", serve.stdout.read()[-2000:], serve.stderr.read()[-3000:])
    assert 0
