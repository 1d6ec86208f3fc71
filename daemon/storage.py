"""Persistent state: one SQLite database (WAL) for jobs, analyses and generations, plus a content-addressed
blob directory for audio, stems, MIDI and result JSON. Everything lives under the data dir."""
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, params TEXT NOT NULL, priority TEXT NOT NULL,
    state TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '', fraction REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL, started REAL, finished REAL,
    result TEXT, result_path TEXT, error_code TEXT, error_message TEXT, run_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created);
CREATE TABLE IF NOT EXISTS analyses (
    cache_key TEXT PRIMARY KEY, job_id TEXT NOT NULL, audio_sha256 TEXT NOT NULL, params TEXT NOT NULL,
    models TEXT NOT NULL, result_path TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY, job_id TEXT NOT NULL, request TEXT NOT NULL, result_path TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, kind TEXT NOT NULL, created REAL NOT NULL
);
"""

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled")
_JOB_COLUMNS = ("id", "type", "params", "priority", "state", "stage", "fraction", "created", "started", "finished",
                "result", "result_path", "error_code", "error_message", "run_id")


def sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


class Storage:
    """SQLite + blobs. Safe to call from several threads (one connection behind a lock)."""

    def __init__(self, data_dir):
        self.root = Path(data_dir)
        self.blob_dir = self.root / "blobs"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "bandmate.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.db_path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)",
                             (str(SCHEMA_VERSION),))

    def close(self):
        with self._lock:
            self._db.close()

    def _exec(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args)

    def _query(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- jobs ---------------------------------------------------------------------------------------------
    def insert_job(self, job_id, job_type, params, priority, run_id, state="queued"):
        self._exec("INSERT INTO jobs(id, type, params, priority, state, created, run_id) VALUES(?,?,?,?,?,?,?)",
                   (job_id, job_type, json.dumps(params), priority, state, time.time(), run_id))

    def update_job(self, job_id, **fields):
        for key in fields:
            if key not in _JOB_COLUMNS:
                raise KeyError(key)
        if "result" in fields and fields["result"] is not None:
            fields["result"] = json.dumps(fields["result"])
        cols = ", ".join("%s=?" % k for k in fields)
        self._exec("UPDATE jobs SET %s WHERE id=?" % cols, tuple(fields.values()) + (job_id,))

    def get_job(self, job_id):
        rows = self._query("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _job_dict(rows[0]) if rows else None

    def list_jobs(self, limit=50, state=None):
        if state:
            rows = self._query("SELECT * FROM jobs WHERE state=? ORDER BY created DESC LIMIT ?", (state, limit))
        else:
            rows = self._query("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", (limit,))
        return [_job_dict(r, with_result=False) for r in rows]

    def count_jobs(self):
        return {r["state"]: r["n"] for r in self._query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")}

    def mark_interrupted(self, current_run_id):
        """Jobs of earlier daemon runs that were queued or running: mark them failed, with the reason.
        Returns how many were marked."""
        now = time.time()
        cur = self._exec(
            "UPDATE jobs SET state='failed', finished=?, error_code='interrupted', "
            "error_message='the daemon stopped while this job was ' || state || '; run it again' "
            "WHERE state IN ('queued', 'running') AND run_id != ?", (now, current_run_id))
        return cur.rowcount

    def purge_jobs(self, older_than_s):
        cutoff = time.time() - older_than_s
        return self._exec("DELETE FROM jobs WHERE created < ? AND state IN ('done','failed','cancelled')",
                          (cutoff,)).rowcount

    # -- analysis cache ------------------------------------------------------------------------------------
    def cache_get(self, cache_key):
        rows = self._query("SELECT * FROM analyses WHERE cache_key=?", (cache_key,))
        if not rows or not os.path.exists(rows[0]["result_path"]):
            return None
        return dict(rows[0])

    def cache_put(self, cache_key, job_id, audio_sha256, params, models, result_path):
        self._exec("INSERT OR REPLACE INTO analyses(cache_key, job_id, audio_sha256, params, models, result_path,"
                   " created) VALUES(?,?,?,?,?,?,?)",
                   (cache_key, job_id, audio_sha256, json.dumps(params, sort_keys=True),
                    json.dumps(models, sort_keys=True), result_path, time.time()))

    # -- blobs ---------------------------------------------------------------------------------------------
    def _blob_path(self, digest, ext):
        return self.blob_dir / digest[:2] / (digest + ext)

    def put_blob_bytes(self, data, ext="", kind="bytes"):
        """Store bytes by content; returns the absolute path. Storing the same bytes twice is free."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._blob_path(digest, ext)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=str(path.parent))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, str(path))
        self._exec("INSERT OR IGNORE INTO blobs(sha256, path, size, kind, created) VALUES(?,?,?,?,?)",
                   (digest, str(path), len(data), kind, time.time()))
        return str(path)

    def put_blob_file(self, src, ext=None, kind="file"):
        """Copy a file into the blob store by content; returns the absolute path."""
        digest = sha256_file(src)
        ext = os.path.splitext(src)[1] if ext is None else ext
        path = self._blob_path(digest, ext)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = str(path) + ".part"
            shutil.copyfile(src, tmp)
            os.replace(tmp, str(path))
        self._exec("INSERT OR IGNORE INTO blobs(sha256, path, size, kind, created) VALUES(?,?,?,?,?)",
                   (digest, str(path), os.path.getsize(path), kind, time.time()))
        return str(path)

    def put_json(self, obj, kind="result"):
        return self.put_blob_bytes(json.dumps(obj, indent=1, sort_keys=True).encode("utf-8"), ".json", kind)


def _job_dict(row, with_result=True):
    d = {
        "job_id": row["id"], "type": row["type"], "priority": row["priority"], "state": row["state"],
        "stage": row["stage"], "fraction": row["fraction"], "created": row["created"], "started": row["started"],
        "finished": row["finished"], "result_path": row["result_path"],
        "error": ({"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None),
    }
    if with_result:
        d["params"] = json.loads(row["params"])
        d["result"] = json.loads(row["result"]) if row["result"] else None
    return d
