"""Transport benchmark: ping round trips over ZeroMQ and OSC, concurrent clients, daemon cold start.

Peers, in the same run and through the same client code: a minimal pyzmq ROUTER server that parses the request
JSON and answers a canned reply (the floor for any Python ZeroMQ service), and python-osc's UDP server answering
/bandmate/ping (the usual Python OSC stack). Ratios are Bandmate / peer.

    bandmate bench transport [--n 10000] [--clients 20] [--per-client 500] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from . import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ZMQ_PEER = r"""
import json, sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.ROUTER); port = s.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
while True:
    frames = s.recv_multipart()
    req = json.loads(frames[-1])
    rep = {"id": req["id"], "ok": True, "result": {"pong": "pong", "payload": req["params"].get("payload", "")}}
    s.send_multipart(frames[:-1] + [json.dumps(rep).encode()])
"""

OSC_PEER = r"""
import socket, sys, time
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.udp_client import SimpleUDPClient
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ping(addr, address, req_id, *args):
    from pythonosc.osc_message_builder import OscMessageBuilder
    b = OscMessageBuilder(address="/bandmate/ping")
    for a in (req_id, "pong", args[0] if args else "", time.time()):
        b.add_arg(a)
    server.socket.sendto(b.build().dgram, addr)
d = Dispatcher(); d.map("/bandmate/ping", ping, needs_reply_address=True)
server = BlockingOSCUDPServer(("127.0.0.1", 0), d)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _spawn(code):
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def _start_daemon(home, models="none"):
    env = dict(os.environ, BANDMATE_HOME=home, BANDMATE_CONFIG=os.path.join(home, "none.toml"))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "serve", "--models", models, "--zmq-port", "0",
                             "--pub-port", "0", "--osc-port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("ready"):
            break
    ready_s = time.perf_counter() - t0
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    with open(os.path.join(home, "daemon.json")) as fh:
        return proc, json.load(fh)["endpoints"], ready_s


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def ping_latencies(request, n, warmup=200):
    for i in range(warmup):
        request(str(i))
    out = []
    for i in range(n):
        payload = "p%d" % i
        t0 = time.perf_counter()
        reply = request(payload)
        out.append((time.perf_counter() - t0) * 1000.0)
        if reply["payload"] != payload:
            raise AssertionError("mismatched reply: %r for %r" % (reply, payload))
    return out


def zmq_pinger(endpoint):
    from bridge.client import Client

    c = Client(endpoint=endpoint, pub_endpoint="", timeout=5.0)
    return c, lambda p: c.request("ping", {"payload": p})


def osc_pinger(port):
    from bridge.osc import OscClient

    c = OscClient("127.0.0.1", port, timeout=5.0)
    return c, lambda p: c.request("ping", {"payload": p})


def concurrent(endpoint, clients, per_client):
    from bridge.client import Client

    lost, mismatched, lat = [0], [0], []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def worker(k):
        mine = []
        with Client(endpoint=endpoint, pub_endpoint="", timeout=10.0) as c:
            barrier.wait()
            for i in range(per_client):
                payload = "%d:%d" % (k, i)
                t0 = time.perf_counter()
                try:
                    r = c.request("ping", {"payload": payload})
                except Exception:
                    with lock:
                        lost[0] += 1
                    continue
                mine.append((time.perf_counter() - t0) * 1000.0)
                if r["payload"] != payload:
                    with lock:
                        mismatched[0] += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "requests": clients * per_client, "replies": len(lat), "lost": lost[0],
            "mismatched": mismatched[0], "wall_s": round(wall, 3), "per_s": round(len(lat) / wall, 1),
            "latency_ms": report.percentiles(lat)}


def run(n=10000, clients=20, per_client=500, cold_runs=3, rounds=5):
    res = {"machine": report.machine(), "n": n, "rounds": rounds}
    with tempfile.TemporaryDirectory() as home:
        cold = []
        for _ in range(cold_runs):
            proc, _, ready = _start_daemon(home)
            cold.append(ready)
            _stop(proc)
        res["cold_start_s"] = {"runs": [round(c, 3) for c in cold], "median": round(sorted(cold)[len(cold) // 2], 3)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import zmq, numpy, platformdirs"], check=True)
        res["cold_start_s"]["python_imports_floor"] = round(time.perf_counter() - t0, 3)

        proc, ep, _ = _start_daemon(home)
        zpeer, zport = _spawn(ZMQ_PEER)
        opeer, oport = _spawn(OSC_PEER)
        try:
            # Interleave the systems in rounds so a noisy moment of the machine hits all of them alike.
            systems = [("bandmate_zmq", lambda: zmq_pinger(ep["zmq"])),
                       ("peer_pyzmq_router", lambda: zmq_pinger("tcp://127.0.0.1:%d" % zport)),
                       ("bandmate_osc", lambda: osc_pinger(int(ep["osc"].rsplit(":", 1)[1]))),
                       ("peer_python_osc", lambda: osc_pinger(oport))]
            pingers = {name: factory() for name, factory in systems}
            samples = {name: [] for name, _ in systems}
            try:
                for r in range(rounds):
                    for name, _ in systems:
                        samples[name] += ping_latencies(pingers[name][1], n // rounds, warmup=200 if r == 0 else 20)
            finally:
                for client, _ in pingers.values():
                    client.close()
            rows = {name: report.percentiles(v) for name, v in samples.items()}
            res["ping_ms"] = rows
            res["ratios"] = {
                "zmq_p50": round(rows["bandmate_zmq"]["p50"] / rows["peer_pyzmq_router"]["p50"], 3),
                "zmq_p99": round(rows["bandmate_zmq"]["p99"] / rows["peer_pyzmq_router"]["p99"], 3),
                "osc_p50": round(rows["bandmate_osc"]["p50"] / rows["peer_python_osc"]["p50"], 3),
                "osc_p99": round(rows["bandmate_osc"]["p99"] / rows["peer_python_osc"]["p99"], 3),
            }
            res["concurrent"] = concurrent(ep["zmq"], clients, per_client)
        finally:
            for p in (proc, zpeer, opeer):
                _stop(p)
    res["goals"] = {
        "zmq_p99_le_1ms": res["ping_ms"]["bandmate_zmq"]["p99"] <= 1.0,
        "osc_p99_le_2ms": res["ping_ms"]["bandmate_osc"]["p99"] <= 2.0,
        "concurrent_no_loss": res["concurrent"]["lost"] == 0 and res["concurrent"]["mismatched"] == 0,
        "cold_start_le_2s": res["cold_start_s"]["median"] <= 2.0,
    }
    return res


def to_markdown(res):
    p = res["ping_ms"]
    rows = [[name, v["n"], v["p50"], v["p90"], v["p99"], v["mean"], v["max"]] for name, v in p.items()]
    c = res["concurrent"]
    md = ["# Transport benchmark (%s, %d CPUs, Python %s)\n" % (res["machine"]["when"], res["machine"]["cpus"],
                                                                 res["machine"]["python"]),
          "## Ping round trips (ms; %d per system, interleaved in %d rounds)\n" % (res["n"], res["rounds"]),
          report.markdown_table(["system", "n", "p50", "p90", "p99", "mean", "max"], rows),
          "\nRatios Bandmate / peer: ZeroMQ p50 %.2fx, p99 %.2fx; OSC p50 %.2fx, p99 %.2fx\n" % (
              res["ratios"]["zmq_p50"], res["ratios"]["zmq_p99"], res["ratios"]["osc_p50"], res["ratios"]["osc_p99"]),
          "## %d concurrent ZeroMQ clients x %d requests\n" % (c["clients"], c["requests"] // c["clients"]),
          report.markdown_table(["requests", "replies", "lost", "mismatched", "wall s", "req/s", "p50 ms", "p99 ms"],
                                [[c["requests"], c["replies"], c["lost"], c["mismatched"], c["wall_s"], c["per_s"],
                                  c["latency_ms"]["p50"], c["latency_ms"]["p99"]]]),
          "\n## Cold start to \"ready\" without models\n",
          "runs %s s, median %.3f s (bare `python -c 'import zmq, numpy, platformdirs'`: %.3f s)\n" % (
              res["cold_start_s"]["runs"], res["cold_start_s"]["median"], res["cold_start_s"]["python_imports_floor"]),
          "## Goals\n", "\n".join("- %s: %s" % (k, "met" if v else "NOT met") for k, v in res["goals"].items())]
    return "\n".join(md)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate bench transport", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="ping round trips per system")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--per-client", type=int, default=500)
    ap.add_argument("--json", action="store_true", help="print the JSON instead of the Markdown")
    ap.add_argument("--out-dir", help="where to write transport.json/.md (default bench/results)")
    args = ap.parse_args(argv)
    res = run(args.n, args.clients, args.per_client)
    md = to_markdown(res)
    paths = report.write("transport", res, md, args.out_dir)
    print(json.dumps(res, indent=1) if args.json else md)
    print("\nwritten: %s" % ", ".join(paths), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
