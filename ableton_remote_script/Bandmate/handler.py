"""What every handler shares: the surface (Live's song, the status bar), the daemon link, settings, and the job
helpers that flows use with `yield from`."""
import json
import os

from .transport import DaemonError

MAX_MISSED_POLLS = 3  # `job` polls in a row without an answer before the daemon is called unreachable


class UserError(Exception):
    """Something the user can fix (no clip selected, a setting); shown in the status bar as it is."""


class Handler(object):
    """Base of the per-concern handlers (analysis, generation, live chords)."""

    def __init__(self, surface):
        self.surface = surface

    @property
    def link(self):
        return self.surface.link

    @property
    def settings(self):
        return self.surface.settings

    def song(self):
        return self.surface.song()

    def status(self, text):
        self.surface.status(text)

    def wait(self, seconds):
        """Flow step: let `seconds` pass, a tick at a time."""
        until = self.surface.clock() + seconds
        while self.surface.clock() < until:
            yield

    def follow_job(self, job_id, what):
        """Flow step: poll `job` until the job is done; returns the job dict. Raises DaemonError for a failed or
        cancelled job, or one that outlives the job_timeout setting."""
        deadline = self.surface.clock() + float(self.settings["job_timeout"])
        shown = None
        missed = 0
        while True:
            try:
                reply = yield from self.link.call("job", {"job_id": job_id})
            except DaemonError as exc:
                # UDP may lose a packet, and a busy machine may answer late: a few missed polls are not fatal
                missed += 1
                if exc.code != "unreachable" or missed >= MAX_MISSED_POLLS:
                    raise
                continue
            missed = 0
            job = reply.get("job") or {}
            state = job.get("state")
            if state == "done":
                return job
            if state in ("failed", "cancelled"):
                error = job.get("error") or {}
                raise DaemonError(error.get("code") or state, error.get("message") or "the job %s" % state)
            progress = "%s %s %d%%" % (what, job.get("stage") or state or "", int(100 * (job.get("fraction") or 0)))
            if progress != shown:
                self.status(progress)
                shown = progress
            if self.surface.clock() > deadline:
                self.link.send("cancel", {"job_id": job_id})
                raise DaemonError("timeout", "gave up waiting for job %s after %.0f s (job_timeout setting)"
                                  % (job_id, float(self.settings["job_timeout"])))
            yield from self.wait(float(self.settings["job_poll"]))


def job_result(job):
    """A finished job's result: inline when it fits UDP, else the JSON file at result_path (both the analysis
    file, which is the song description itself, and a {"song": ...} wrapper are understood)."""
    result = job.get("result")
    if result is None:
        path = job.get("result_path")
        if not path or not os.path.exists(path):
            raise DaemonError("not_found", "the job's result file is missing (%s)" % path)
        with open(path, "r", encoding="utf-8") as fh:
            result = json.load(fh)
    if not isinstance(result, dict):
        raise DaemonError("bad_reply", "the job's result is not an object")
    return result


def read_json(path):
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)
