"""OSC helpers: a small blocking OSC client for the daemon (stdlib sockets + protocol.osc), used by tests,
benchmarks and as a reference for DAW scripts."""
import socket
import time
import uuid

from protocol import DEFAULT_HOST, DEFAULT_OSC_PORT, BandmateError
from protocol.messages import OSC_ERROR_ADDRESS, osc_address, params_to_osc, reply_from_osc
from protocol.osc import decode_packet, encode_message


class OscClient:
    """Sends /bandmate/<type> <id> [token] args... and waits for the reply on its own port."""

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_OSC_PORT, token=None, timeout=5.0, bind_port=0):
        self.addr = (host, port)
        self.token = token
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, bind_port))
        self.sock.settimeout(timeout)
        self.events = []  # /bandmate/event/... messages seen while waiting for replies

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendto(data, self.addr)

    def request(self, msg_type, params=None, timeout=None):
        req_id = uuid.uuid4().hex[:12]
        args = [req_id] + ([self.token] if self.token else []) + params_to_osc(msg_type, params or {})
        self.sock.sendto(encode_message(osc_address(msg_type), args), self.addr)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            msg = self.receive(deadline - time.monotonic())
            if msg is None:
                raise TimeoutError("no OSC reply from %s:%d" % self.addr)
            if msg.address == OSC_ERROR_ADDRESS and msg.args and msg.args[0] == req_id:
                raise BandmateError(msg.args[1], msg.args[2])
            if msg.address == osc_address(msg_type) and msg.args and msg.args[0] == req_id:
                return reply_from_osc(msg_type, msg.args[1:])
            if msg.address.startswith("/bandmate/event/"):
                self.events.append(msg)

    def receive(self, timeout):
        """The next OSC message on this client's port, or None after `timeout` seconds."""
        if timeout <= 0:
            return None
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65536)
        except (socket.timeout, TimeoutError):
            return None
        return decode_packet(data)[0]
