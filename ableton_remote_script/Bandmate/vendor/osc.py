"""OSC 1.0 encoding and decoding, standard library only.

Bandmate's DAW scripts vendor this module, so it keeps to Python 3.7 syntax and imports nothing but the
standard library. Supported argument types: i (int32), h (int64), f (float32), d (float64), s (string),
b (blob), T/F (booleans), N (nil). Bundles are flattened on decode.
"""
import struct

__all__ = ["OSCError", "OSCMessage", "encode_message", "encode_bundle", "decode_packet", "type_tags_of"]


class OSCError(ValueError):
    """A packet that is not valid OSC."""


class OSCMessage(object):
    """One decoded OSC message: an address, its type tags (without the comma) and the argument values."""

    __slots__ = ("address", "tags", "args")

    def __init__(self, address, tags, args):
        self.address = address
        self.tags = tags
        self.args = args

    def __repr__(self):
        return "OSCMessage(%r, %r, %r)" % (self.address, self.tags, self.args)

    def __eq__(self, other):
        return isinstance(other, OSCMessage) and (self.address, self.tags, self.args) == (
            other.address, other.tags, other.args)


def _pad4(n):
    return (4 - n % 4) % 4


def _encode_string(text):
    raw = text.encode("utf-8")
    if b"\x00" in raw:
        raise OSCError("OSC strings cannot contain NUL characters")
    raw += b"\x00"
    return raw + b"\x00" * _pad4(len(raw))


def _encode_blob(data):
    data = bytes(data)
    return struct.pack(">i", len(data)) + data + b"\x00" * _pad4(len(data))


def type_tags_of(args):
    """Infer OSC type tags for Python values: bool->T/F, int->i (h beyond int32), float->f, str->s,
    bytes->b, None->N."""
    tags = []
    for value in args:
        if value is True:
            tags.append("T")
        elif value is False:
            tags.append("F")
        elif value is None:
            tags.append("N")
        elif isinstance(value, int):
            tags.append("i" if -2 ** 31 <= value < 2 ** 31 else "h")
        elif isinstance(value, float):
            tags.append("f")
        elif isinstance(value, str):
            tags.append("s")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            tags.append("b")
        else:
            raise OSCError("cannot encode %s as an OSC argument" % type(value).__name__)
    return "".join(tags)


def encode_message(address, args=(), tags=None):
    """Encode one OSC message to bytes. `tags` forces the type of each argument (e.g. "sif")."""
    if not isinstance(address, str) or not address.startswith("/"):
        raise OSCError("an OSC address must be a string starting with '/'")
    args = list(args)
    if tags is None:
        tags = type_tags_of(args)
    if len(tags) != len(args):
        raise OSCError("type tags %r do not match %d arguments" % (tags, len(args)))
    out = [_encode_string(address), _encode_string("," + tags)]
    for tag, value in zip(tags, args):
        if tag == "i":
            out.append(struct.pack(">i", int(value)))
        elif tag == "h":
            out.append(struct.pack(">q", int(value)))
        elif tag == "f":
            out.append(struct.pack(">f", float(value)))
        elif tag == "d":
            out.append(struct.pack(">d", float(value)))
        elif tag == "s":
            out.append(_encode_string(str(value)))
        elif tag == "b":
            out.append(_encode_blob(value))
        elif tag in "TFN":
            pass
        else:
            raise OSCError("unsupported OSC type tag %r" % tag)
    return b"".join(out)


def encode_bundle(messages, timetag=1):
    """Encode a bundle of already-encoded messages (bytes). timetag 1 means 'immediately'."""
    out = [_encode_string("#bundle"), struct.pack(">Q", timetag)]
    for msg in messages:
        out.append(struct.pack(">i", len(msg)))
        out.append(msg)
    return b"".join(out)


def _read_string(data, pos):
    end = data.find(b"\x00", pos)
    if end < 0:
        raise OSCError("unterminated OSC string at byte %d" % pos)
    try:
        text = data[pos:end].decode("utf-8")
    except UnicodeDecodeError:
        raise OSCError("OSC string at byte %d is not UTF-8" % pos)
    size = end - pos + 1
    return text, pos + size + _pad4(size)


def _need(data, pos, n):
    if pos + n > len(data):
        raise OSCError("OSC packet truncated at byte %d" % pos)


def _decode_message(data):
    address, pos = _read_string(data, 0)
    if not address.startswith("/"):
        raise OSCError("OSC address must start with '/'")
    if pos >= len(data):
        return OSCMessage(address, "", [])  # old-style message without a type tag string
    tagstr, pos = _read_string(data, pos)
    if not tagstr.startswith(","):
        raise OSCError("OSC type tag string must start with ','")
    tags = tagstr[1:]
    args = []
    for tag in tags:
        if tag == "i":
            _need(data, pos, 4)
            args.append(struct.unpack_from(">i", data, pos)[0])
            pos += 4
        elif tag == "h":
            _need(data, pos, 8)
            args.append(struct.unpack_from(">q", data, pos)[0])
            pos += 8
        elif tag == "f":
            _need(data, pos, 4)
            args.append(struct.unpack_from(">f", data, pos)[0])
            pos += 4
        elif tag == "d":
            _need(data, pos, 8)
            args.append(struct.unpack_from(">d", data, pos)[0])
            pos += 8
        elif tag == "s" or tag == "S":
            text, pos = _read_string(data, pos)
            args.append(text)
        elif tag == "b":
            _need(data, pos, 4)
            size = struct.unpack_from(">i", data, pos)[0]
            pos += 4
            if size < 0:
                raise OSCError("negative OSC blob size")
            _need(data, pos, size)
            args.append(bytes(data[pos:pos + size]))
            pos += size + _pad4(size)
        elif tag == "T":
            args.append(True)
        elif tag == "F":
            args.append(False)
        elif tag == "N":
            args.append(None)
        else:
            raise OSCError("unsupported OSC type tag %r" % tag)
    return OSCMessage(address, tags, args)


def decode_packet(data, max_depth=8):
    """Decode an OSC packet (message or bundle) into a list of OSCMessage. Raises OSCError."""
    data = bytes(data)
    if not data:
        raise OSCError("empty OSC packet")
    if len(data) % 4:
        raise OSCError("OSC packet size %d is not a multiple of 4" % len(data))
    if data.startswith(b"#bundle\x00"):
        if max_depth <= 0:
            raise OSCError("OSC bundles nested too deeply")
        _need(data, 8, 8)
        pos = 16
        out = []
        while pos < len(data):
            _need(data, pos, 4)
            size = struct.unpack_from(">i", data, pos)[0]
            pos += 4
            if size <= 0 or size % 4:
                raise OSCError("bad OSC bundle element size %d" % size)
            _need(data, pos, size)
            out.extend(decode_packet(data[pos:pos + size], max_depth - 1))
            pos += size
        return out
    return [_decode_message(data)]
