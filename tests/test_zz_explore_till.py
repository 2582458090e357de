import json, time, base64
from tests.qa_organiser import organiser_running, tg
from tests.helpers import wait_for
from agent.sync import topics
from agent.sync.messages import SaleRequest, SaleLine, RefundRequest, ExchangeRequest, DeskAnswer
from agent.sync.signed import Verifier
from agent.sync.transport import BrokerConfig, PahoTransport

def test_explore(tmp_path):
    org, k = tmp_path / "org", tmp_path / "kiosk"
    for h in (org, k): h.mkdir()
    now = time.time()
    st, en = (time.strftime("%Y-%m-%d", time.gmtime(now + d * 86400)) for d in (-1, 7))
    tg(org, "server", "init", "--org", "acme", "--name", "Acme")
    tg(org, "server", "event", "create", "--name", "Week", "--start", f"{st} 10:00", "--end", f"{en} 23:00",
       "--zone", "1=Floor", "--category", "1=Adult", "--category", "2=Child")
    tg(org, "server", "price", "set", "1", "--category", "1", "--cents", "2500", "--currency", "EUR")
    tg(org, "server", "price", "set", "1", "--category", "2", "--cents", "1200")
    with organiser_running(org) as running:
        running.enroll(k, "desk", "1", role="kiosk")
        cred = json.loads((k / "device" / "credentials.json").read_text())
        dev = cred["device_id"]
        print(tg(org, "server", "till", "open", dev, "--float-cents", "10000").stdout)
        ver = Verifier(base64.b64decode(cred["server_key"]))
        answers = {}
        def got(topic, p):
            if p[:4] == b"TGB1": return
            try:
                body = ver.open(p)
            except Exception as e:
                return
            if body.get("type") == "desk_answer":
                a = DeskAnswer.from_wire(body); answers[a.request_id] = a
        t = PahoTransport(dev + "x", BrokerConfig(port=cred["broker"]["port"], username=cred["username"], password=cred["password"]))
        t.on_message = got
        t.subscribe(topics.down("acme", dev)); t.start(); assert t.wait_connected(10)
        def ask(msg):
            t.publish(topics.up("acme", dev), json.dumps(msg.to_wire()).encode(), wait=5)
            assert wait_for(lambda: msg.request_id in answers, 20), msg
            print(msg.request_id, answers[msg.request_id])
            return answers[msg.request_id]
        a = ask(SaleRequest("acme", dev, "A", 1, (SaleLine(1, 2),), payment="cash", buyer_name="Ann"))
        b = ask(SaleRequest("acme", dev, "B", 1, (SaleLine(2, 1),), payment="card", buyer_name="Bob"))
        c = ask(SaleRequest("acme", dev, "C", 1, (SaleLine(1, 1),), payment="cash", buyer_name="Cy"))
        ask(RefundRequest("acme", dev, "RC", c.order_number, "changed plans"))
        ask(ExchangeRequest("acme", dev, "XA", a.tickets[0].ticket_key, "child", category=2))
        tg(org, "server", "order", "refund", b.order_number, "--reason", "organiser refund")
        t.stop()
        print(tg(org, "server", "till", "list").stdout)
        sid = json.loads(tg(org, "server", "till", "list", "--json").stdout)[0]
        print(sid)
        sid = sid.get("shift_id") or sid.get("id")
        print(tg(org, "server", "till", "close", str(sid), "--counted-cents", "12200").stdout)
        print("ZJSON", tg(org, "server", "till", "z-report", str(sid), "--json").stdout)
        print("SALES", tg(org, "server", "report", "sales").stdout)
        print("SALESJSON", tg(org, "server", "report", "sales", "--json").stdout)
        tg(org, "server", "report", "sales", "--out", str(org / "s.csv"))
        print("CSV", (org / "s.csv").read_text())
