"""`bandmate serve`: run the daemon in the foreground until Ctrl+C, SIGTERM or a `shutdown` request."""
import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time

from protocol import PROTOCOL_VERSION

from . import __version__
from .config import ConfigError, load_config
from .logs import setup_logging

log = logging.getLogger("bandmate.daemon")
STATE_FILE = "daemon.json"  # endpoints of the running daemon, read by clients on this machine


def add_serve_arguments(ap):
    ap.add_argument("--config", help="TOML config file (default: the user config dir's config.toml)")
    ap.add_argument("--data-dir", help="where jobs, results and blobs live (default: the user data dir)")
    ap.add_argument("--host", help="address to bind (default 127.0.0.1; anything else needs --token)")
    ap.add_argument("--token", help="auth token every request must carry (required off loopback)")
    ap.add_argument("--zmq-port", type=int, help="ZeroMQ ROUTER port (default 7401; 0 = any free port)")
    ap.add_argument("--pub-port", type=int, help="ZeroMQ PUB port (default 7402; 0 = any free port)")
    ap.add_argument("--osc-port", type=int, help="OSC UDP port (default 7400; 0 = any free port)")
    ap.add_argument("--device", choices=["auto", "directml", "cuda", "mps", "cpu"], help="compute device policy")
    ap.add_argument("--models", help="comma-separated models to load at start ('*' = defaults, 'none' = none)")
    ap.add_argument("--jobs", type=int, help="how many jobs run at once")
    ap.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    ap.add_argument("--log-format", choices=["text", "json"])


def config_from_args(args):
    models = None
    if args.models is not None:
        models = [] if args.models.strip().lower() == "none" else [m.strip() for m in args.models.split(",") if m]
    return load_config(args.config, {
        "data_dir": args.data_dir, "log_level": args.log_level, "log_format": args.log_format,
        "server": {"host": args.host, "token": args.token, "zmq_port": args.zmq_port, "pub_port": args.pub_port,
                   "osc_port": args.osc_port},
        "jobs": {"concurrency": args.jobs},
        "models": {"device": args.device, "load": models},
    })


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bandmate serve", description=__doc__)
    add_serve_arguments(ap)
    args = ap.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print("bandmate: configuration error: %s" % exc, file=sys.stderr)
        return 2
    os.makedirs(config.data_dir, exist_ok=True)
    setup_logging(config.data_dir, config.log_level, config.log_format)
    if sys.platform == "win32":  # the ZeroMQ and UDP servers use reader callbacks, which need a selector loop
        asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:
        return 0


async def serve(config, out=None):
    from .servers import OscServer, ZmqServer
    from .service import Service

    out = out or sys.stdout
    t0 = time.perf_counter()
    service = Service(config)
    await service.start()
    s = config.server
    zmq_server = ZmqServer(service, s.host, s.zmq_port, s.pub_port, s.token)
    osc_server = OscServer(service, s.host, s.osc_port, s.token, s.max_osc_bytes)
    try:
        router, pub = await zmq_server.start()
        osc = await osc_server.start()
    except Exception as exc:  # OSError from the UDP socket, ZMQError from ZeroMQ: the address is in use
        print("bandmate: cannot bind %s (%s). Is another Bandmate daemon running? Pick other ports with "
              "--zmq-port/--pub-port/--osc-port." % (s.host, exc), file=sys.stderr)
        await zmq_server.close()
        await service.close()
        return 3
    service.endpoints = {"zmq": router, "pub": pub, "osc": osc}
    state_path = os.path.join(config.data_dir, STATE_FILE)
    with open(state_path, "w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), "endpoints": service.endpoints, "auth": bool(s.token)}, fh)

    p = lambda *a: print(*a, file=out, flush=True)  # noqa: E731
    p("Bandmate %s daemon (protocol %s)" % (__version__, PROTOCOL_VERSION))
    p("  ZeroMQ requests: %s (ROUTER)" % router)
    p("  ZeroMQ events:   %s (PUB)" % pub)
    p("  OSC:             %s" % osc)
    p("  data dir:        %s" % config.data_dir)
    if service.pool.wanted():
        await service.load_models()
        d = service.pool.device
        p("  device:          %s [%s]" % (d.name, d.reason))
    else:  # no models to load: probing the device imports torch (seconds of CPU), so it waits until needed
        p("  device:          chosen when first needed (no models to load; `bandmate status` probes it)")
    warm = [m for m in service.pool.status() if m["state"] == "warm"]
    other = [m for m in service.pool.status() if m["state"] not in ("warm", "not_loaded")]
    p("  models warm:     %s" % (", ".join("%s (%.2f s)" % (m["name"], m["load_s"]) for m in warm) or "none"))
    for m in other:
        p("  model %s: %s (%s)" % (m["name"], m["state"], m["error"]))
    p("ready in %.2f s" % (time.perf_counter() - t0))
    log.info("ready", extra={"endpoints": service.endpoints})

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, service.stopping.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl+C arrives as KeyboardInterrupt
            pass
    try:
        await service.stopping.wait()
    finally:
        p("stopping")
        await osc_server.close()
        await zmq_server.close()
        await service.close()
        try:
            os.remove(state_path)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
