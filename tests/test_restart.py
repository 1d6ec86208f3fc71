"""Kill the daemon mid-job (SIGKILL: no clean-up), start it again: the job is reported failed with the reason,
queued jobs too, and earlier results are still there."""
import os
import time

from .conftest import DaemonProcess


def test_restart_after_kill_reports_interrupted_jobs(tmp_path, tone):
    home = tmp_path / "home"
    d = DaemonProcess(home, ["--models", "none", "--jobs", "1"]).start()
    try:
        with d.client() as c:
            done = c.analyze(tone, wait=True)
            assert done["state"] == "done"
            running = c.request("selftest", {"seconds": 60.0})["job_id"]
            queued = c.request("selftest", {"seconds": 1.0})["job_id"]
            deadline = time.monotonic() + 15
            while c.job(running)["state"] != "running" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.job(running)["state"] == "running" and c.job(queued)["state"] == "queued"
    finally:
        d.kill()
    d2 = DaemonProcess(home, ["--models", "none"]).start()
    try:
        with d2.client() as c:
            for job_id, was in [(running, "running"), (queued, "queued")]:
                job = c.job(job_id)
                assert job["state"] == "failed" and job["error"]["code"] == "interrupted"
                assert was in job["error"]["message"]
            old = c.job(done["job_id"])
            assert old["state"] == "done" and old["result"] == done["result"]
            assert os.path.exists(old["result_path"])
            listed = {j["job_id"]: j["state"] for j in c.jobs()}
            assert listed[done["job_id"]] == "done" and listed[running] == "failed"
            again = c.analyze(tone, wait=True)  # the cache survived the restart too
            assert again["result"]["cached"] is True
    finally:
        d2.stop()


def test_clean_stop_via_shutdown_request(tmp_path):
    d = DaemonProcess(tmp_path / "home", ["--models", "none"]).start()
    with d.client() as c:
        assert c.request("shutdown")["stopping"] is True
    d.proc.wait(15)
    assert d.proc.returncode == 0
    assert not os.path.exists(os.path.join(d.home, "daemon.json"))
