"""The wire contract: OSC golden bytes, envelopes, the message table, its documentation, Python 3.7 syntax."""
import json
import os
import shutil
import struct
import subprocess
import sys

import jsonschema
import pytest

from protocol import ERROR_CODES, MESSAGES, SONG_SCHEMA, BandmateError, envelope
from protocol.messages import params_from_osc, params_to_osc, reply_from_osc, reply_to_osc, validate_params
from protocol.osc import OSCError, OSCMessage, decode_packet, encode_bundle, encode_message

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (address, args, tags, exact bytes), written out by hand from the OSC 1.0 spec.
GOLDEN = [
    ("/bandmate/ping", ["abc"], "s",
     b"/bandmate/ping\x00\x00" b",s\x00\x00" b"abc\x00"),
    ("/bandmate/ping", ["id1", "x"], "ss",
     b"/bandmate/ping\x00\x00" b",ss\x00" b"id1\x00" b"x\x00\x00\x00"),
    ("/bandmate/jobs", ["q", 7], "si",
     b"/bandmate/jobs\x00\x00" b",si\x00" b"q\x00\x00\x00" b"\x00\x00\x00\x07"),
    ("/bandmate/selftest", ["r", 1.5], "sf",
     b"/bandmate/selftest\x00\x00" b",sf\x00" b"r\x00\x00\x00" b"\x3f\xc0\x00\x00"),
    ("/a", [-1, b"\x01\x02\x03", True, False, None], "ibTFN",
     b"/a\x00\x00" b",ibTFN\x00\x00" b"\xff\xff\xff\xff" b"\x00\x00\x00\x03\x01\x02\x03\x00"),
    ("/d", [0.25, 2 ** 40], "dh",
     b"/d\x00\x00" b",dh\x00" + struct.pack(">d", 0.25) + struct.pack(">q", 2 ** 40)),
    ("/bandmate/error", ["", "bad_request", "no"], "sss",
     b"/bandmate/error\x00" b",sss\x00\x00\x00\x00" b"\x00\x00\x00\x00" b"bad_request\x00" b"no\x00\x00"),
]


@pytest.mark.parametrize("address,args,tags,data", GOLDEN)
def test_osc_golden_vectors(address, args, tags, data):
    assert encode_message(address, args, tags) == data
    assert decode_packet(data) == [OSCMessage(address, tags, args)]


def test_osc_type_inference_and_bundles():
    msg = encode_message("/x", ["s", 1, 2.5, True, None, b"b", 2 ** 33])
    assert decode_packet(msg)[0].tags == "sifTNbh"
    bundle = encode_bundle([encode_message("/a", [1]), encode_message("/b", ["two"])])
    assert [m.address for m in decode_packet(bundle)] == ["/a", "/b"]


@pytest.mark.parametrize("data", [
    b"", b"/a", b"/a\x00\x00,i\x00\x00", b"noslash\x00,\x00\x00\x00", b"/a\x00\x00,q\x00\x00",
    b"/a\x00\x00,b\x00\x00\x00\x00\x00\x10", b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x05abcd",
    b"/a\x00\x00s\x00\x00\x00", b"\xff\xfe\x00\x00",
])
def test_osc_malformed_packets_raise_osc_error(data):
    with pytest.raises(OSCError):
        decode_packet(data)


def test_envelopes_round_trip_and_errors():
    raw = envelope.encode_request("r1", "ping", {"payload": "x"}, token="t")
    assert envelope.decode_request(raw) == ("r1", "ping", {"payload": "x"}, "t")
    with pytest.raises(BandmateError) as e:
        envelope.decode_request(b"{not json")
    assert e.value.code == "bad_request" and e.value.req_id is None
    with pytest.raises(BandmateError) as e:
        envelope.decode_request(json.dumps({"id": "keep", "type": 3}).encode())
    assert e.value.code == "bad_request" and e.value.req_id == "keep"
    with pytest.raises(BandmateError) as e:
        envelope.decode_request(b" " * (envelope.MAX_MESSAGE_BYTES + 1))
    assert e.value.code == "too_large"
    reply = envelope.decode_reply(envelope.encode_error("r1", "not_found", "gone"))
    assert reply == {"id": "r1", "ok": False, "error": {"code": "not_found", "message": "gone"}}


def test_validation_names_the_field():
    assert validate_params("analyze", {"path": "/a.wav", "start": 1}) == {"path": "/a.wav", "start": 1.0}
    with pytest.raises(BandmateError) as e:
        validate_params("job", {})
    assert e.value.code == "bad_params" and "job_id" in e.value.message
    for params, field in [({"path": 3}, "path"), ({"path": "/a", "start": "x"}, "start"),
                          ({"path": "/a", "bogus": 1}, "bogus"), ({"path": "/a", "priority": "now"}, "priority"),
                          ({"path": "/a", "start": float("nan")}, "start")]:
        with pytest.raises(BandmateError) as e:
            validate_params("analyze", params)
        assert e.value.code == "bad_params" and field in e.value.message
    with pytest.raises(BandmateError) as e:
        validate_params("nope", {})
    assert e.value.code == "unknown_type"


def test_osc_parameter_mapping_round_trips():
    params = {"path": "/a.wav", "start": 1.0, "end": 2.0, "context": {"tempo": 120}}
    args = params_to_osc("analyze", params)
    assert args == ["/a.wav", 1.0, 2.0, '{"tempo":120}']
    assert params_from_osc("analyze", args) == params
    with pytest.raises(BandmateError):
        params_from_osc("ping", ["a", "b"])
    result = {"job": {"job_id": "j", "state": "done"}}
    assert reply_from_osc("job", reply_to_osc("job", result)) == result


def test_every_message_and_error_is_documented():
    from protocol.docgen import render

    with open(os.path.join(ROOT, "protocol", "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    assert text == render(), "protocol/README.md is stale: python -m protocol.docgen > protocol/README.md"
    for name, msg in MESSAGES.items():
        assert "### `%s`" % name in text and msg.doc
        for p in msg.params:
            assert p.doc
    for code in ERROR_CODES:
        assert "`%s`" % code in text


def test_song_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SONG_SCHEMA)
    from protocol.song import new_song_description

    song = new_song_description({"duration": 1.0, "sample_rate": 44100, "loudness_lufs": None})
    jsonschema.validate(song, SONG_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema_version": "1.0"}, SONG_SCHEMA)


@pytest.mark.skipif(shutil.which("vermin") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "vermin")), reason="vermin not installed")
def test_protocol_runs_on_python_37():
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    out = subprocess.run([vermin, "-t=3.7-", "--no-tips", "--violations", os.path.join(ROOT, "protocol")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
