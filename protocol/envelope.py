"""ZeroMQ JSON envelopes.

Request:  {"id": str, "type": str, "params": {...}, "token": str?}
Reply:    {"id": str, "ok": true, "result": {...}}  or  {"id": str|null, "ok": false, "error": {"code", "message"}}
Event:    two frames on the PUB socket: topic (UTF-8, e.g. b"job") and a JSON object.
"""
import json

from .errors import BandmateError

MAX_MESSAGE_BYTES = 1024 * 1024  # bulk data travels as files; a request larger than this is refused
MAX_ID_LENGTH = 128


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def encode_request(req_id, msg_type, params=None, token=None):
    env = {"id": req_id, "type": msg_type, "params": params or {}}
    if token is not None:
        env["token"] = token
    return _dumps(env)


def encode_reply(req_id, result):
    return _dumps({"id": req_id, "ok": True, "result": result})


def encode_error(req_id, code, message):
    return _dumps({"id": req_id, "ok": False, "error": {"code": code, "message": message}})


def encode_event(topic, event):
    return [topic.encode("utf-8"), _dumps(event)]


def check_id(req_id):
    if not isinstance(req_id, str) or not req_id or len(req_id) > MAX_ID_LENGTH:
        raise BandmateError("bad_request", "request 'id' must be a non-empty string of at most %d characters"
                            % MAX_ID_LENGTH)
    return req_id


def decode_request(data):
    """Parse request bytes. Returns (id, type, params, token).

    Raises BandmateError; its `req_id` attribute carries the id when one could be read, so the error reply
    can still be matched by the client."""
    req_id = None
    try:
        if len(data) > MAX_MESSAGE_BYTES:
            raise BandmateError("too_large", "request of %d bytes exceeds the %d-byte limit; send files by path"
                                % (len(data), MAX_MESSAGE_BYTES))
        try:
            env = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BandmateError("bad_request", "request is not UTF-8 JSON")
        if not isinstance(env, dict):
            raise BandmateError("bad_request", "request must be a JSON object")
        if isinstance(env.get("id"), str) and 0 < len(env["id"]) <= MAX_ID_LENGTH:
            req_id = env["id"]
        check_id(env.get("id"))
        msg_type = env.get("type")
        if not isinstance(msg_type, str):
            raise BandmateError("bad_request", "request 'type' must be a string")
        params = env.get("params", {})
        token = env.get("token")
        if token is not None and not isinstance(token, str):
            raise BandmateError("bad_request", "request 'token' must be a string")
        return req_id, msg_type, params, token
    except BandmateError as exc:
        exc.req_id = req_id
        raise


def decode_reply(data):
    """Parse reply bytes into a dict; raises ValueError if it is not a reply envelope."""
    env = json.loads(data.decode("utf-8"))
    if not isinstance(env, dict) or "ok" not in env:
        raise ValueError("not a Bandmate reply")
    return env
