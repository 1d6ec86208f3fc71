"""Structured logs: JSON lines in <data dir>/logs/bandmate.log (rotated), and on the console either the same
JSON or short text lines."""
import json
import logging
import logging.handlers
import os
import time

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record):
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _STD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record):
        line = "%s %-7s %s: %s" % (time.strftime("%H:%M:%S", time.localtime(record.created)), record.levelname,
                                   record.name, record.getMessage())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(data_dir, level="info", console_format="text", console=True):
    root = logging.getLogger("bandmate")
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    log_dir = os.path.join(data_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    fh = logging.handlers.RotatingFileHandler(os.path.join(log_dir, "bandmate.log"), maxBytes=5 << 20,
                                              backupCount=3, encoding="utf-8")
    fh.setFormatter(JsonFormatter())
    root.addHandler(fh)
    if console:
        ch = logging.StreamHandler()
        ch.setFormatter(JsonFormatter() if console_format == "json" else TextFormatter())
        root.addHandler(ch)
    return root
