"""Property-based fuzzing of a live daemon: at least 10,000 random and mutated packets on each transport, then
the daemon must still answer ping correctly on both."""
import json
import socket

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import MESSAGES
from protocol.osc import encode_message

N = 10000
SAFE_TYPES = sorted(t for t in MESSAGES if t != "shutdown")  # a valid shutdown would end the test, not a bug

osc_arg = st.one_of(st.integers(-2 ** 31, 2 ** 31 - 1), st.floats(allow_nan=True, width=32),
                    st.text(max_size=40).filter(lambda s: "\x00" not in s), st.binary(max_size=40),
                    st.booleans(), st.none())
valid_osc = st.builds(lambda t, args: encode_message("/bandmate/" + t, args),
                      st.sampled_from(SAFE_TYPES), st.lists(osc_arg, max_size=6))


@st.composite
def mutated(draw, base):
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            data += data[i:i + 16]
    return bytes(data)


osc_packets = st.one_of(st.binary(max_size=256), valid_osc, mutated(valid_osc),
                        st.builds(lambda b: b"#bundle\x00" + b, st.binary(max_size=64)))

json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                          lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=10)
envelope = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.text(max_size=20), json_value), "type": st.one_of(st.sampled_from(SAFE_TYPES), json_value),
    "params": st.one_of(st.dictionaries(st.sampled_from(["path", "job_id", "seconds", "limit", "payload", "x"]),
                                        json_value, max_size=3), json_value),
    "token": json_value})
zmq_payloads = st.one_of(st.binary(max_size=256), envelope.map(lambda e: json.dumps(e).encode()),
                         mutated(envelope.map(lambda e: json.dumps(e).encode())))

FUZZ = settings(max_examples=N, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.mark.slow
def test_fuzz_both_transports_then_ping(make_daemon):
    d = make_daemon(["--models", "none", "--jobs", "1"])
    sent = {"osc": 0, "zmq": 0}

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)

    @FUZZ
    @given(osc_packets)
    def fuzz_osc(packet):
        udp.sendto(packet, ("127.0.0.1", d.osc_port))
        sent["osc"] += 1
        try:
            while True:
                udp.recv(65536)  # drain replies so our socket never overflows
        except BlockingIOError:
            pass

    ctx = zmq.Context.instance()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(d.zmq)
    replies = {"n": 0}

    @FUZZ
    @given(zmq_payloads)
    def fuzz_zmq(payload):
        dealer.send(payload)
        sent["zmq"] += 1
        while dealer.poll(0):
            dealer.recv()
            replies["n"] += 1

    try:
        fuzz_osc()
        fuzz_zmq()
        assert sent["osc"] >= N and sent["zmq"] >= N
        # every ZeroMQ frame gets exactly one reply, errors included
        while replies["n"] < sent["zmq"] and dealer.poll(10000):
            dealer.recv()
            replies["n"] += 1
        assert replies["n"] == sent["zmq"]
        assert d.alive()
        with d.client() as c:
            assert c.ping("after-fuzz")["payload"] == "after-fuzz"
        with d.osc_client() as osc:
            assert osc.request("ping", {"payload": "after-fuzz"})["payload"] == "after-fuzz"
    finally:
        udp.close()
        dealer.close(0)
