"""Transports: ZeroMQ ROUTER (requests) + PUB (events), and OSC over UDP. Both route into Service.handle and
turn every failure into an error reply with a code; nothing a client sends can stop them."""
import asyncio
import hmac
import inspect
import logging

import zmq

from protocol import BandmateError
from protocol import envelope
from protocol.messages import (OSC_ERROR_ADDRESS, OSC_EVENT_PREFIX, event_to_osc, osc_address, params_from_osc,
                               reply_to_osc, type_from_osc_address)
from protocol.osc import OSCError, decode_packet, encode_message

from .config import is_loopback
from .service import Peer

log = logging.getLogger("bandmate.servers")

ZMQ_MAX_FRAME = 64 * 1024 * 1024  # larger frames drop the connection; up to this size we can still say too_large
UDP_MAX_REPLY = 60000


def _check_token(expected, given):
    if expected and not (isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())):
        raise BandmateError("unauthorized", "this daemon requires an auth token on every request")


def _error_reply(req_id, exc):
    """The ZeroMQ error envelope for any exception: its own code for a BandmateError, else `internal`."""
    if isinstance(exc, BandmateError):
        return envelope.encode_error(req_id, exc.code, exc.message)
    log.error("unexpected error answering a ZeroMQ request", exc_info=exc)
    return envelope.encode_error(req_id, "internal", "%s: %s" % (type(exc).__name__, exc))


class ZmqServer:
    """ROUTER + PUB on plain pyzmq sockets driven by the event loop's reader callback: requests whose handler
    answers at once are replied to inside the callback (no task, no extra loop turn); the rest become tasks."""

    def __init__(self, service, host, port, pub_port, token=""):
        self.service, self.host, self.port, self.pub_port, self.token = service, host, port, pub_port, token
        self.ctx = zmq.Context()
        self.router = self.pub = None
        self.loop = None
        self._pending = set()

    def _bind(self, sock, port):
        sock.bind("tcp://%s:%s" % (self.host, port if port else "*"))
        return sock.getsockopt_string(zmq.LAST_ENDPOINT)

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.MAXMSGSIZE, ZMQ_MAX_FRAME)
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 10000)
        endpoint = self._bind(self.router, self.port)
        pub_endpoint = self._bind(self.pub, self.pub_port)
        self.service.sinks.append(self.publish)
        self.loop.add_reader(self.router.getsockopt(zmq.FD), self._drain)
        self.loop.call_soon(self._drain)
        return endpoint, pub_endpoint

    def publish(self, topic, event):
        try:
            self.pub.send_multipart(envelope.encode_event(topic, event), flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # PUB drops when no one keeps up; events are advisory, state lives in `job`

    def _drain(self):
        # The ZeroMQ FD is edge-triggered: read until EAGAIN, or a waiting message may never wake us again.
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.warning("zmq receive failed: %s", exc)
                return
            if len(frames) < 2:
                continue  # no routing identity: nothing to reply to
            route, payload = frames[:-1], frames[-1]
            reply = self._answer(payload)
            if isinstance(reply, bytes):
                self._send(route, reply)
            else:
                task = self.loop.create_task(self._answer_later(route, *reply))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    def _send(self, route, reply):
        try:
            self.router.send_multipart(route + [reply], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.warning("zmq reply failed: %s", exc)

    def _answer(self, payload):
        """Reply bytes, or (request id, awaitable) when the handler has to wait."""
        req_id = None
        try:
            req_id, msg_type, params, token = envelope.decode_request(payload)
            _check_token(self.token, token)
            result = self.service.dispatch(msg_type, params, Peer("zmq", None, True))
            if inspect.isawaitable(result):
                return req_id, result
            return envelope.encode_reply(req_id, result)
        except Exception as exc:  # never let one request take the server down
            return _error_reply(getattr(exc, "req_id", None) or req_id, exc)

    async def _answer_later(self, route, req_id, awaitable):
        try:
            reply = envelope.encode_reply(req_id, await awaitable)
        except Exception as exc:
            reply = _error_reply(req_id, exc)
        self._send(route, reply)
        self._drain()  # sending can consume the FD's edge; look for requests that arrived meanwhile

    async def close(self):
        if self.router is not None:
            try:
                self.loop.remove_reader(self.router.getsockopt(zmq.FD))
            except Exception:
                pass
        for task in list(self._pending):
            task.cancel()
        for sock in (self.router, self.pub):
            if sock is not None:
                sock.close(0)
        self.ctx.term()


class OscServer(asyncio.DatagramProtocol):
    """/bandmate/<verb> <id> [token] args... ; replies to the sender's address and port on the same address;
    errors on /bandmate/error <id> <code> <message>; events to subscribers on /bandmate/event/<topic>."""

    def __init__(self, service, host, port, token="", max_bytes=32768):
        self.service, self.host, self.port, self.token, self.max_bytes = service, host, port, token, max_bytes
        self.transport = None
        self.errors_sent = 0
        self._pending = set()  # strong references: the loop keeps only weak ones to running tasks

    async def start(self):
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, self.port))
        self.service.sinks.append(self.publish)
        sockname = self.transport.get_extra_info("sockname")
        return "udp://%s:%d" % (sockname[0], sockname[1])

    def connection_made(self, transport):
        self.transport = transport

    def error_received(self, exc):
        log.debug("OSC socket error (e.g. an ICMP port unreachable from a vanished peer): %s", exc)

    def _send(self, data, addr):
        try:
            self.transport.sendto(data, addr)
        except OSError as exc:  # a vanished or unreachable peer
            log.debug("OSC send to %s failed: %s", addr, exc)

    def _error(self, addr, req_id, code, message):
        self.errors_sent += 1
        self._send(encode_message(OSC_ERROR_ADDRESS, [req_id or "", code, message[:1000]], "sss"), addr)

    def datagram_received(self, data, addr):
        if len(data) > self.max_bytes:
            self._error(addr, "", "too_large", "OSC packet of %d bytes exceeds %d; send files by path"
                        % (len(data), self.max_bytes))
            return
        try:
            messages = decode_packet(data)
        except OSCError as exc:
            self._error(addr, "", "bad_request", "malformed OSC packet: %s" % exc)
            return
        for msg in messages:
            self._answer(msg, addr)

    def _answer(self, msg, addr):
        req_id = ""
        try:
            args = list(msg.args)
            if not args or not isinstance(args[0], str) or not args[0] or len(args[0]) > envelope.MAX_ID_LENGTH:
                raise BandmateError("bad_request", "the first OSC argument must be the request id (a non-empty "
                                    "string of at most %d characters)" % envelope.MAX_ID_LENGTH)
            req_id = args.pop(0)
            msg_type = type_from_osc_address(msg.address)
            if self.token:
                _check_token(self.token, args.pop(0) if args else None)
            params = params_from_osc(msg_type, args)
            result = self.service.dispatch(msg_type, params, Peer("osc", addr, is_loopback(addr[0])))
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._answer_later(msg_type, req_id, result, addr))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                return
            self._reply(msg_type, req_id, result, addr)
        except Exception as exc:
            self._fail(exc, msg.address, req_id, addr)

    async def _answer_later(self, msg_type, req_id, awaitable, addr):
        try:
            self._reply(msg_type, req_id, await awaitable, addr)
        except Exception as exc:
            self._fail(exc, osc_address(msg_type), req_id, addr)

    def _reply(self, msg_type, req_id, result, addr):
        packet = encode_message(osc_address(msg_type), [req_id] + reply_to_osc(msg_type, result))
        if len(packet) > UDP_MAX_REPLY:
            raise BandmateError("too_large", "the reply is too large for UDP; ask over ZeroMQ or read the "
                                "job's result_path")
        self._send(packet, addr)

    def _fail(self, exc, address, req_id, addr):
        if isinstance(exc, BandmateError):
            self._error(addr, req_id, exc.code, exc.message)
        elif isinstance(exc, (OSCError, ValueError, TypeError)):
            self._error(addr, req_id, "bad_params", str(exc))
        else:
            log.exception("unexpected error answering OSC %s", address, exc_info=exc)
            self._error(addr, req_id, "internal", "%s: %s" % (type(exc).__name__, exc))

    def publish(self, topic, event):
        subs = self.service.osc_subscribers
        if not subs:
            return
        try:
            packet = encode_message(OSC_EVENT_PREFIX + topic, event_to_osc(topic, event))
        except (OSCError, TypeError, ValueError):
            log.exception("cannot encode %s event for OSC", topic)
            return
        for (host, port), topics in list(subs.items()):
            if not topics or topic in topics:
                self._send(packet, (host, port))

    async def close(self):
        if self.transport is not None:
            self.transport.close()
