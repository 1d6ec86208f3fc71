"""`--local`: run the daemon's service in this process, without sockets, behind the same request/reply
contract as the network client. The service is loaded by name so the client itself depends only on protocol/;
local runs keep their own data under <data dir>/local so they never touch a running daemon's jobs."""
import asyncio
import importlib
import os
import threading

from .client import follow_job


class LocalClient:
    def __init__(self, models=None, device=None):
        config_mod = importlib.import_module("daemon.config")
        service_mod = importlib.import_module("daemon.service")
        home = os.environ.get("BANDMATE_HOME") or config_mod.default_data_dir()
        overrides = {"data_dir": os.path.join(home, "local"), "models": {"device": device, "load": models}}
        self.config = config_mod.load_config(overrides=overrides)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="bandmate-local")
        self._thread.start()
        self.service = service_mod.Service(self.config)
        self._call(self.service.start())
        if self.service.pool.wanted():
            self._call(self.service.load_models())

    def _call(self, coro, timeout=None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(self, msg_type, params=None, timeout=None):
        params = {k: v for k, v in (params or {}).items() if v is not None}
        return self._call(self.service.handle(msg_type, params), timeout)

    def job(self, job_id):
        return self.request("job", {"job_id": job_id})["job"]

    def wait(self, job_id, on_progress=None, timeout=None):
        return follow_job(self.job, job_id, on_progress, timeout)

    def close(self):
        try:
            self._call(self.service.close(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
