"""Error codes shared by every transport. A reply that fails carries one of these codes and a message."""

ERROR_CODES = {
    "bad_request": "the message is not a valid request (malformed JSON or OSC, missing id or type)",
    "unknown_type": "no such message type / OSC address",
    "bad_params": "a parameter is missing, of the wrong type, or out of range (the message names it)",
    "too_large": "the message exceeds the size limit; send bulk data as a file path instead",
    "unauthorized": "the daemon requires an auth token and the request carried none or a wrong one",
    "file_not_found": "a path in the request does not exist",
    "unreadable_file": "a path exists but cannot be read",
    "unsupported_format": "the file is not audio (or MIDI) in a format Bandmate decodes",
    "corrupt_file": "the file looks like a supported format but its data is truncated or damaged",
    "forbidden_path": "the request names an output location outside the data dir and not given as out_dir",
    "not_found": "no such job, analysis or model",
    "not_available": "the feature or model is not available on this installation (the message says why)",
    "busy": "the job queue is full; try again later",
    "timeout": "the job ran past its time limit",
    "cancelled": "the job was cancelled",
    "interrupted": "the daemon stopped while the job was queued or running",
    "version_mismatch": "the client speaks a protocol major version the daemon does not",
    "internal": "an unexpected error inside the daemon (it keeps serving; the log has details)",
}


class BandmateError(Exception):
    """An error with a wire code; raised by handlers and clients alike."""

    def __init__(self, code, message):
        if code not in ERROR_CODES:
            code, message = "internal", "%s (unknown error code %r)" % (message, code)
        Exception.__init__(self, "%s: %s" % (code, message))
        self.code = code
        self.message = message

    def to_dict(self):
        return {"code": self.code, "message": self.message}
