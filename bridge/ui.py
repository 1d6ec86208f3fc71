"""The companion window (`bandmate ui`, PySide6): the daemon's status and device, the last analysis (chord
timeline with Roman numerals, key, tempo, meter, sections) and the generated MIDI and audio files, each with a
drag handle that drops the file into any DAW (a QDrag carrying file URLs: Live, REAPER, Logic, FL, Bitwig...).

    bandmate ui                                        # follows the running daemon
    bandmate ui --show-analysis song.json --files bass_120bpm_Emin.mid bass_120bpm_Emin.wav   # no daemon needed
    bandmate ui --screenshot window.png                # render offscreen, save, exit

The window never waits on the daemon: a worker thread polls it (`hello`, `status`, `jobs`, `job`) with short
timeouts and hands snapshots to the window; when the daemon is down the window says so and keeps retrying.
What is drawn comes from plain functions in bridge/ui_model.py. User docs: bridge/UI.md.
"""
import argparse
import os
import sys

from bridge import ui_model as model

try:
    from PySide6 import QtCore, QtGui, QtWidgets
    from PySide6.QtCore import QMimeData, QObject, Qt, QThread, QTimer, QUrl, Signal, Slot
    from PySide6.QtGui import QDrag
except ImportError as exc:  # the `ui` extra is not installed
    QtCore = None
    _IMPORT_ERROR = exc
else:
    _IMPORT_ERROR = None

POLL_INTERVAL_S = 2.0
REQUEST_TIMEOUT_S = 1.5
GENERATIONS_SHOWN = 3


def _require_qt():
    if QtCore is None:
        raise ImportError("the companion window needs PySide6: pip install -e \".[ui]\" (%s)" % _IMPORT_ERROR)


def mime_for_files(paths):
    """Drag data for files: their absolute paths as file:// URLs (text/uri-list; CF_HDROP on Windows and file
    URLs on macOS through Qt), which is what DAWs accept as a file drop."""
    _require_qt()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.path.abspath(p)) for p in paths])
    return mime


def open_folder(path):
    """Show a folder in the system's file manager (Explorer, Finder, the desktop's default)."""
    return QtGui.QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def _colour(hex_):
    return QtGui.QColor(hex_)


def _fit_text(text, font, width):
    """Shrink the font (down to 7 pt) until `text` fits `width` pixels, then elide: a chord symbol cut short
    ('Gbm…' for Gbmaj7) would read as another chord, so shrinking comes first."""
    font = QtGui.QFont(font)
    size = font.pointSizeF()
    while size > 7.0 and QtGui.QFontMetrics(font).horizontalAdvance(text) > width:
        size -= 0.5
        font.setPointSizeF(size)
    return font, QtGui.QFontMetrics(font).elidedText(text, Qt.ElideRight, int(width))


def _text_on(colour):
    """Black or white text, whichever reads better on `colour`."""
    return QtGui.QColor("#111111") if colour.lightnessF() > 0.62 else QtGui.QColor("#ffffff")


if QtCore is not None:

    class DragHandle(QtWidgets.QLabel):
        """A grip that starts a file drag (one file or several) when pulled."""

        active = 0  # drags in progress: the window holds back rebuilding its rows (the drag's source) meanwhile

        def __init__(self, paths, label="\u2807\u2807", parent=None):
            QtWidgets.QLabel.__init__(self, label, parent)
            self.paths = [os.path.abspath(p) for p in paths]
            self._press = None
            self.setObjectName("dragHandle")
            self.setAlignment(Qt.AlignCenter)
            self.setMinimumWidth(28)
            self.setCursor(Qt.OpenHandCursor)
            names = ", ".join(os.path.basename(p) for p in self.paths)
            self.setToolTip("drag into your DAW: " + names)
            self.setEnabled(all(os.path.exists(p) for p in self.paths) and bool(self.paths))

        def make_drag(self):
            """The QDrag for this handle's files (built, not started)."""
            drag = QDrag(self)
            drag.setMimeData(mime_for_files(self.paths))
            drag.setPixmap(self._drag_pixmap())
            drag.setHotSpot(QtCore.QPoint(10, 10))
            return drag

        def start_drag(self):
            """Start the drag; returns the drop action the target took (Qt.IgnoreAction when dropped nowhere)."""
            DragHandle.active += 1
            try:
                return self.make_drag().exec(Qt.CopyAction)
            finally:
                DragHandle.active -= 1

        def _drag_pixmap(self):
            text = os.path.basename(self.paths[0]) if len(self.paths) == 1 else "%d files" % len(self.paths)
            fm = QtGui.QFontMetrics(self.font())
            pm = QtGui.QPixmap(fm.horizontalAdvance(text) + 20, fm.height() + 10)
            pm.fill(Qt.transparent)
            p = QtGui.QPainter(pm)
            p.setRenderHint(QtGui.QPainter.Antialiasing)
            p.setBrush(QtGui.QColor(40, 90, 160, 220))
            p.setPen(Qt.NoPen)
            p.drawRoundedRect(pm.rect(), 5, 5)
            p.setPen(Qt.white)
            p.drawText(pm.rect(), Qt.AlignCenter, text)
            p.end()
            return pm

        def mousePressEvent(self, event):
            if event.button() == Qt.LeftButton:
                self._press = event.position().toPoint()
            QtWidgets.QLabel.mousePressEvent(self, event)

        def mouseMoveEvent(self, event):
            if self._press is not None and (event.buttons() & Qt.LeftButton) and \
                    (event.position().toPoint() - self._press).manhattanLength() >= \
                    QtWidgets.QApplication.startDragDistance():
                self._press = None
                self.start_drag()
            QtWidgets.QLabel.mouseMoveEvent(self, event)

        def mouseReleaseEvent(self, event):
            self._press = None
            QtWidgets.QLabel.mouseReleaseEvent(self, event)

    class FileRow(QtWidgets.QFrame):
        """One generated file: drag handle, MIDI/audio badge, stem, file name, details, folder button."""

        def __init__(self, entry, parent=None):
            QtWidgets.QFrame.__init__(self, parent)
            self.entry = entry
            self.setObjectName("fileRow")
            lay = QtWidgets.QHBoxLayout(self)
            lay.setContentsMargins(4, 2, 4, 2)
            self.handle = DragHandle([entry["path"]], parent=self)
            lay.addWidget(self.handle)
            badge = QtWidgets.QLabel("MIDI" if entry["kind"] == "midi" else "AUDIO")
            badge.setObjectName("badgeMidi" if entry["kind"] == "midi" else "badgeAudio")
            badge.setAlignment(Qt.AlignCenter)
            badge.setFixedWidth(52)
            lay.addWidget(badge)
            stem = QtWidgets.QLabel(entry["stem"])
            stem.setObjectName("stemName")
            stem.setMinimumWidth(90)
            lay.addWidget(stem)
            name = QtWidgets.QLabel(entry["name"] + ("" if entry["exists"] else "  (missing)"))
            name.setObjectName("fileName")
            name.setToolTip(entry["path"])
            name.setTextInteractionFlags(Qt.TextSelectableByMouse)
            lay.addWidget(name, 1)
            detail = QtWidgets.QLabel(entry.get("detail") or "")
            detail.setObjectName("detail")
            lay.addWidget(detail)
            self.folder_button = QtWidgets.QToolButton()
            self.folder_button.setText("Show in folder")
            self.folder_button.clicked.connect(lambda: open_folder(os.path.dirname(entry["path"])))
            lay.addWidget(self.folder_button)
            if not entry["exists"]:
                self.setEnabled(False)

    class TimelineView(QtWidgets.QWidget):
        """Sections strip, chord blocks (symbol and Roman numeral) and a bar ruler, time running left to right."""

        SECTION_H, CHORD_H, RULER_H, PAD = 24, 52, 18, 4
        MIN_PX_PER_S = 24.0

        def __init__(self, parent=None):
            QtWidgets.QWidget.__init__(self, parent)
            self.song = None
            self.px_per_s = self.MIN_PX_PER_S
            self.setFixedHeight(self.SECTION_H + self.CHORD_H + self.RULER_H + 3 * self.PAD)

        def set_song(self, song):
            self.song = song
            self.fit(self.width())
            self.update()

        def fit(self, width):
            """Fill `width` pixels, unless that would squeeze chords: then scroll."""
            duration = model.song_duration(self.song or {}) or 1.0
            self.px_per_s = max(self.MIN_PX_PER_S, (max(width, 100) - 2 * self.PAD) / duration)
            self.setFixedWidth(int(duration * self.px_per_s + 2 * self.PAD))

        def blocks(self):
            return model.chord_blocks(self.song or {}, self.px_per_s, self.PAD)

        def block_at(self, x):
            """The chord block under pixel column x, or None."""
            for b in self.blocks():
                if b["x"] <= x < b["x"] + b["width"]:
                    return b
            return None

        def event(self, ev):
            if ev.type() == QtCore.QEvent.ToolTip:
                b = self.block_at(ev.pos().x())
                if b:
                    text = "%s  (%s)" % (b["symbol"], b["label"])
                    if b["roman_numeral"]:
                        text += "  %s" % b["roman_numeral"]
                    if b["function"]:
                        text += ", %s" % b["function"].replace("_", " ")
                    text += "\n%.2f\u2013%.2f s" % (b["start"], b["end"])
                    QtWidgets.QToolTip.showText(ev.globalPos(), text, self)
                else:
                    QtWidgets.QToolTip.hideText()
                return True
            return QtWidgets.QWidget.event(self, ev)

        def paintEvent(self, event):
            p = QtGui.QPainter(self)
            p.setRenderHint(QtGui.QPainter.Antialiasing)
            p.fillRect(self.rect(), QtGui.QColor("#1e2126"))
            if not self.song:
                p.setPen(QtGui.QColor("#6a707a"))
                p.drawText(self.rect(), Qt.AlignCenter, "the chord timeline of the last analysis appears here")
                p.end()
                return
            top = self.PAD
            small = QtGui.QFont(self.font())
            small.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.85))
            bold = QtGui.QFont(self.font())
            bold.setBold(True)
            sections = model.section_blocks(self.song, self.px_per_s, self.PAD)
            for b in sections:
                self._block(p, b, top, self.SECTION_H, [(b["text"], small)])
            if not sections:
                p.setFont(small)
                p.setPen(QtGui.QColor("#6a707a"))
                p.drawText(QtCore.QRectF(self.PAD + 4, top, 400, self.SECTION_H), Qt.AlignVCenter | Qt.AlignLeft,
                           "no sections in this analysis")
            top += self.SECTION_H + self.PAD
            for b in self.blocks():
                lines = [(b["symbol"], bold)]
                if b["roman_numeral"]:
                    lines.append((b["roman_numeral"], small))
                self._block(p, b, top, self.CHORD_H, lines)
            top += self.CHORD_H + self.PAD
            self._ruler(p, top, small)
            p.end()

        def _block(self, p, b, top, height, lines):
            colour = _colour(b["colour"])
            rect = QtCore.QRectF(b["x"] + 1, top, max(1.0, b["width"] - 2), height)
            p.setPen(Qt.NoPen)
            p.setBrush(colour)
            p.drawRoundedRect(rect, 4, 4)
            p.setPen(_text_on(colour))
            line_h = height / float(len(lines))
            for i, (text, font) in enumerate(lines):
                font, shown = _fit_text(text, font, rect.width() - 4)
                p.setFont(font)
                p.drawText(QtCore.QRectF(rect.x() + 2, top + i * line_h, rect.width() - 4, line_h),
                           Qt.AlignCenter, shown)

        def _ruler(self, p, top, font):
            p.setFont(font)
            p.setPen(QtGui.QColor("#9aa0a8"))
            fm = QtGui.QFontMetrics(font)
            downbeats = self.song.get("downbeats") or []
            if downbeats:
                ticks = [(t, str(i + 1)) for i, t in enumerate(downbeats)]
            else:
                step = 1.0 if self.px_per_s >= 40 else 5.0
                n = int(model.song_duration(self.song) / step) + 1
                ticks = [(i * step, "%gs" % (i * step)) for i in range(n)]
            last_x = -1e9
            for t, text in ticks:
                x = self.PAD + t * self.px_per_s
                p.drawLine(QtCore.QPointF(x, top), QtCore.QPointF(x, top + 5))
                if x - last_x >= fm.horizontalAdvance(text) + 8:  # label only where there is room
                    p.drawText(QtCore.QPointF(x + 2, top + fm.ascent() + 3), text)
                    last_x = x

    class TimelineArea(QtWidgets.QScrollArea):
        def __init__(self, parent=None):
            QtWidgets.QScrollArea.__init__(self, parent)
            self.view = TimelineView()
            self.setWidget(self.view)
            self.setWidgetResizable(False)
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
            self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            self.setFixedHeight(self.view.height() + 18)

        def resizeEvent(self, event):
            QtWidgets.QScrollArea.resizeEvent(self, event)
            self.view.fit(self.viewport().width())

    class DaemonPoller(QObject):
        """Lives in a worker thread: asks the daemon for status and the newest jobs, emits one snapshot dict per
        poll. Results of finished jobs never change, so each is fetched once."""

        snapshot = Signal(object)

        def __init__(self, endpoint=None, token=None, home=None, timeout=REQUEST_TIMEOUT_S):
            QObject.__init__(self)
            self.endpoint, self.token, self.home, self.timeout = endpoint, token, home, timeout
            self.client = None
            self._greeted = False  # hello (protocol version check) once per connection
            self.results = {}  # job_id -> job dict with result

        def _client(self):
            from bridge.client import Client

            if self.client is None:  # re-read daemon.json each time we (re)connect: the daemon may have moved
                self.client = Client(endpoint=self.endpoint, token=self.token, timeout=self.timeout, home=self.home)
            return self.client

        def close(self):
            if self.client is not None:
                self.client.close()
                self.client = None

        def _job(self, client, job_id):
            if job_id not in self.results:
                self.results[job_id] = client.job(job_id)
            return self.results[job_id]

        @Slot()
        def poll(self):
            self.snapshot.emit(self.take_snapshot())

        def take_snapshot(self):
            from bridge.client import DaemonUnreachable
            from protocol import BandmateError

            try:
                client = self._client()
                if not self._greeted:
                    client.hello("bandmate-ui")
                    self._greeted = True
                status = client.status()
                active = client.jobs(limit=10, state="running")
                # finished jobs only, so a burst of other jobs cannot push the last analysis out of the list
                analysis_id, generation_ids = model.pick_jobs(client.jobs(limit=200, state="done"),
                                                              GENERATIONS_SHOWN)
                keep = {analysis_id} | set(generation_ids)
                self.results = {k: v for k, v in self.results.items() if k in keep}
                return {"ok": True, "status": status, "endpoint": client.endpoint, "active": active,
                        "analysis": self._job(client, analysis_id) if analysis_id else None,
                        "generations": [self._job(client, g) for g in generation_ids]}
            except DaemonUnreachable:
                self.close()
                self._greeted = False
                return {"ok": False, "message": model.DAEMON_DOWN}
            except BandmateError as exc:
                self.close()
                self._greeted = False
                return {"ok": False, "message": "the daemon refused: %s: %s" % (exc.code, exc.message)}
            except Exception as exc:  # never let the poller thread die; say what happened instead
                self.close()
                self._greeted = False
                return {"ok": False, "message": "cannot talk to the daemon: %s" % exc}

    class GenerationBox(QtWidgets.QFrame):
        """One generate job: a header (tempo, key, bars, drag-all handles, open folder) and a row per file."""

        def __init__(self, title, entries, folder=None, parent=None):
            QtWidgets.QFrame.__init__(self, parent)
            self.entries = entries
            self.folder = folder or model.common_folder([e["path"] for e in entries])
            lay = QtWidgets.QVBoxLayout(self)
            lay.setContentsMargins(0, 4, 0, 4)
            lay.setSpacing(2)
            head = QtWidgets.QHBoxLayout()
            head_label = QtWidgets.QLabel(title)
            head_label.setObjectName("generationTitle")
            head.addWidget(head_label, 1)
            self.all_handles = []
            for kind, text in (("midi", "all MIDI"), ("audio", "all audio")):
                paths = [e["path"] for e in entries if e["kind"] == kind and e["role"] in ("stem", "")]
                if len(paths) > 1:
                    h = DragHandle(paths, "\u2807\u2807 " + text)
                    h.setObjectName("dragAll")
                    self.all_handles.append(h)
                    head.addWidget(h)
            self.folder_button = QtWidgets.QPushButton("Open folder")
            self.folder_button.setEnabled(bool(self.folder))
            self.folder_button.clicked.connect(lambda: open_folder(self.folder))
            head.addWidget(self.folder_button)
            lay.addLayout(head)
            self.rows = []
            for e in entries:
                row = FileRow(e)
                self.rows.append(row)
                lay.addWidget(row)

    class CompanionWindow(QtWidgets.QMainWindow):
        """The window. Feed it with `show_snapshot` (from the poller), `set_song` and `set_files`."""

        request_poll = Signal()

        def __init__(self, endpoint=None, token=None, home=None, poll=True, interval=POLL_INTERVAL_S,
                     timeout=REQUEST_TIMEOUT_S):
            QtWidgets.QMainWindow.__init__(self)
            self.setWindowTitle("Bandmate")
            self.resize(1100, 720)
            self.pinned_song = False
            self.pinned_files = False
            self.song = None
            self.generations = []  # [(title, entries, folder)]
            self.snapshots = 0
            self._polling = False
            self._build()
            self.setStyleSheet(STYLE)
            self.thread = self.poller = self.timer = None
            if poll:
                self._start_polling(endpoint, token, home, interval, timeout)
            else:
                self.status_label.setText("not following a daemon (--no-daemon)")

        # -- layout --------------------------------------------------------------------------------------------
        def _build(self):
            central = QtWidgets.QWidget()
            lay = QtWidgets.QVBoxLayout(central)
            lay.setContentsMargins(10, 8, 10, 8)
            self.status_label = QtWidgets.QLabel("connecting to the daemon\u2026")
            self.status_label.setObjectName("statusLine")
            self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.models_label = QtWidgets.QLabel("")
            self.models_label.setObjectName("modelsLine")
            self.models_label.setWordWrap(True)
            lay.addWidget(self.status_label)
            lay.addWidget(self.models_label)

            box = QtWidgets.QGroupBox("Last analysis")
            blay = QtWidgets.QVBoxLayout(box)
            self.summary_label = QtWidgets.QLabel("no analysis yet: `bandmate analyze song.wav`, or analyse a clip "
                                                  "from your DAW")
            self.summary_label.setObjectName("songSummary")
            self.summary_label.setWordWrap(True)
            blay.addWidget(self.summary_label)
            self.timeline = TimelineArea()
            blay.addWidget(self.timeline)
            square = '<span style="color:%s">\u25a0</span>'
            legend = " ".join(square % model.FUNCTION_COLOURS[f] + " " + f.replace("_", " ") for f in
                              ("tonic", "subdominant", "dominant", "secondary_dominant"))
            legend += " " + "".join(square % model.root_colour(r) for r in ("C", "D", "E", "F#", "Ab", "Bb"))
            legend += " other chords: by root"
            self.legend = QtWidgets.QLabel(legend)
            self.legend.setObjectName("legend")
            blay.addWidget(self.legend)
            lay.addWidget(box)

            fbox = QtWidgets.QGroupBox("Generated files \u2014 drag a handle into your DAW")
            flay = QtWidgets.QVBoxLayout(fbox)
            self.files_empty = QtWidgets.QLabel("no generated files yet")
            flay.addWidget(self.files_empty)
            self.files_area = QtWidgets.QScrollArea()
            self.files_area.setWidgetResizable(True)
            self.files_inner = QtWidgets.QWidget()
            self.files_layout = QtWidgets.QVBoxLayout(self.files_inner)
            self.files_layout.setContentsMargins(0, 0, 0, 0)
            self.files_layout.addStretch(1)
            self.files_area.setWidget(self.files_inner)
            flay.addWidget(self.files_area, 1)
            lay.addWidget(fbox, 1)
            self.setCentralWidget(central)

            menu = self.menuBar().addMenu("&File")
            menu.addAction("Open song description\u2026", self._open_song_dialog)
            menu.addAction("Add files\u2026", self._add_files_dialog)
            self.open_folder_action = menu.addAction("Open folder of the files", self.open_files_folder)
            menu.addSeparator()
            menu.addAction("Quit", self.close)

        # -- polling ------------------------------------------------------------------------------------------
        def _start_polling(self, endpoint, token, home, interval, timeout):
            self.thread = QThread(self)
            self.poller = DaemonPoller(endpoint, token, home, timeout)
            self.poller.moveToThread(self.thread)
            self.request_poll.connect(self.poller.poll)
            self.poller.snapshot.connect(self.show_snapshot)
            self.thread.start()
            QtWidgets.QApplication.instance().aboutToQuit.connect(self.stop_polling)  # never leave it running
            self.timer = QTimer(self)
            self.timer.setInterval(int(interval * 1000))
            self.timer.timeout.connect(self.poll_now)
            self.timer.start()
            QTimer.singleShot(0, self.poll_now)

        def poll_now(self):
            if self.poller is not None and not self._polling:  # one poll in flight at a time
                self._polling = True
                self.request_poll.emit()

        def stop_polling(self):
            if self.timer is not None:
                self.timer.stop()
            if self.thread is not None:
                self.thread.quit()
                self.thread.wait(5000)
                self.poller.close()
                self.thread = None

        def closeEvent(self, event):
            self.stop_polling()
            QtWidgets.QMainWindow.closeEvent(self, event)

        # -- content ------------------------------------------------------------------------------------------
        @Slot(object)
        def show_snapshot(self, snap):
            self._polling = False
            self.snapshots += 1
            self.last_snapshot = snap
            if not snap.get("ok"):
                self.status_label.setText(snap.get("message") or model.DAEMON_DOWN)
                self.status_label.setProperty("down", True)
                self.models_label.setText("retrying every %g s" % (self.timer.interval() / 1000.0
                                                                   if self.timer else POLL_INTERVAL_S))
                self._restyle(self.status_label)
                return
            st = snap.get("status") or {}
            line = "daemon %s on %s \u00b7 device: %s" % (st.get("version", "?"), snap.get("endpoint", "?"),
                                                          model.device_text(st))
            jobs = model.jobs_text(st)
            if jobs:
                line += " \u00b7 jobs: " + jobs
            for j in snap.get("active") or []:
                line += " \u00b7 %s %s %d%%" % (j.get("type"), j.get("stage") or j.get("state"),
                                                round(100 * (j.get("fraction") or 0)))
            self.status_label.setText(line)
            self.status_label.setProperty("down", False)
            self._restyle(self.status_label)
            self.models_label.setText("models: " + model.models_text(st))
            analysis = snap.get("analysis")
            if analysis and not self.pinned_song:
                song = (analysis.get("result") or {}).get("song")
                if song and song is not self.song:
                    self.set_song(song, pinned=False, finished=analysis.get("finished"))
            if not self.pinned_files and not DragHandle.active:
                gens = []
                for job in snap.get("generations") or []:
                    result = job.get("result") or {}
                    title = "generation %s \u00b7 %s" % (job["job_id"][:8], model.generation_summary(result))
                    gens.append((title, model.generated_files(result), result.get("out_dir")))
                if [g[1] for g in gens] != [g[1] for g in self.generations]:
                    self.set_generations(gens, pinned=False)

        def _restyle(self, widget):
            widget.style().unpolish(widget)
            widget.style().polish(widget)

        def set_song(self, song, pinned=True, finished=None):
            """Show a song description (protocol/song.py); `finished`: when its job ended (epoch seconds)."""
            self.song = song
            self.pinned_song = self.pinned_song or pinned
            facts = model.song_summary(song)
            order = ("source", "key", "key_regions", "tempo", "meter", "duration", "genre")
            names = {"key_regions": "modulates", "source": ""}
            bits = []
            for k in order:
                if k in facts:
                    bits.append(("<b>%s</b>" % facts[k]) if k == "source" else
                                "%s <b>%s</b>" % (names.get(k, k), facts[k]))
            chords = [c for c in song.get("chords") or [] if c.get("label") not in ("N", "X")]
            bits.append("%d chords" % len(chords))
            if song.get("sections"):
                bits.append("%d sections" % len(song["sections"]))
            if finished:
                import time

                bits.append("analysed %s" % time.strftime("%H:%M", time.localtime(finished)))
            self.summary_label.setText(" \u00b7 ".join(bits))
            self.timeline.view.set_song(song)
            self.timeline.view.fit(self.timeline.viewport().width())

        def set_files(self, paths, title="files", pinned=True):
            """Show files given by path (e.g. on the command line) as one group of drag rows."""
            entries = [model.file_entry(p) for p in paths]
            self.set_generations([(model.files_title(entries, title), entries, None)], pinned)

        def set_generations(self, generations, pinned=True):
            self.pinned_files = self.pinned_files or pinned
            self.generations = list(generations)
            while self.files_layout.count() > 1:  # keep the trailing stretch
                w = self.files_layout.takeAt(0).widget()
                if w is not None:
                    w.setParent(None)
                    w.deleteLater()
            self.generation_boxes = []
            for title, entries, folder in self.generations:
                box = GenerationBox(title, entries, folder)
                self.generation_boxes.append(box)
                self.files_layout.insertWidget(self.files_layout.count() - 1, box)
            self.files_empty.setVisible(not self.generations)

        def file_rows(self):
            return [row for box in getattr(self, "generation_boxes", []) for row in box.rows]

        def open_files_folder(self):
            boxes = getattr(self, "generation_boxes", [])
            if boxes and boxes[0].folder:
                open_folder(boxes[0].folder)

        def _open_song_dialog(self):
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Song description", "", "JSON (*.json)")
            if path:
                try:
                    self.set_song(model.load_song(path))
                except (OSError, ValueError) as exc:
                    QtWidgets.QMessageBox.warning(self, "Bandmate", str(exc))

        def _add_files_dialog(self):
            paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "MIDI or audio files", "",
                                                              "MIDI and audio (*.mid *.midi *.wav *.flac *.aif "
                                                              "*.aiff *.ogg *.mp3)")
            if paths:
                self.set_files(paths)

        def screenshot(self, path):
            """Render the window (also offscreen) into a PNG file; returns the path."""
            self.timeline.view.fit(self.timeline.viewport().width())
            QtWidgets.QApplication.processEvents()
            image = self.grab()
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            if not image.save(path, "PNG"):
                raise OSError("could not write %s" % path)
            return path

STYLE = """
QMainWindow, QWidget { background: #25282e; color: #e4e6ea; }
QGroupBox { border: 1px solid #3a3f47; border-radius: 6px; margin-top: 14px; padding-top: 6px; font-weight: bold; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; }
QLabel#statusLine { font-weight: bold; color: #9fd39f; }
QLabel#statusLine[down="true"] { color: #f0a060; }
QLabel#modelsLine, QLabel#detail, QLabel#legend { color: #9aa0a8; }
QLabel#dragHandle { background: #3a6ea5; color: white; border-radius: 4px; padding: 2px 6px; font-weight: bold; }
QLabel#dragHandle:disabled { background: #555; color: #999; }
QLabel#dragAll { background: #3a6ea5; color: white; border-radius: 4px; padding: 2px 8px; }
QLabel#badgeMidi { background: #6a4fa0; color: white; border-radius: 3px; font-size: 10px; padding: 1px; }
QLabel#badgeAudio { background: #3f8f6f; color: white; border-radius: 3px; font-size: 10px; padding: 1px; }
QLabel#stemName { font-weight: bold; }
QLabel#generationTitle { color: #c8ccd2; font-weight: bold; }
QFrame#fileRow { background: #2c3037; border-radius: 4px; }
QFrame#fileRow QLabel#stemName, QFrame#fileRow QLabel#detail, QFrame#fileRow QLabel#fileName {
    background: transparent; }
QPushButton, QToolButton { background: #3a3f47; border: 1px solid #4a505a; border-radius: 4px; padding: 3px 8px; }
QPushButton:hover, QToolButton:hover { background: #454b55; }
QScrollArea { border: none; }
"""


def _has_display():
    if sys.platform != "linux" and not sys.platform.startswith("freebsd"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


_QUIET = ("This plugin does not support propagateSizeHints()",)


def _quiet_offscreen():
    """The offscreen platform warns about window hints it cannot honour; that is noise in a screenshot run."""
    previous = []

    def handler(mode, context, message):
        if message in _QUIET:
            return
        if previous and previous[0] is not None:
            previous[0](mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous.append(QtCore.qInstallMessageHandler(handler))


def _parser():
    ap = argparse.ArgumentParser(prog="bandmate ui", description="The companion window: daemon status, the last "
                                 "analysis, and generated MIDI/audio files to drag into any DAW.")
    ap.add_argument("--endpoint", help="daemon ZeroMQ endpoint (default: the running daemon's, else "
                                       "tcp://127.0.0.1:7401)")
    ap.add_argument("--token", help="auth token (or BANDMATE_TOKEN)")
    ap.add_argument("--home", help="the daemon's data dir, to find its endpoints (default: BANDMATE_HOME or the "
                                   "user data dir)")
    ap.add_argument("--interval", type=float, default=POLL_INTERVAL_S, help="seconds between polls (default 2)")
    ap.add_argument("--no-daemon", action="store_true", help="do not poll a daemon (show only what is given here)")
    ap.add_argument("--show-analysis", metavar="JSON", help="show this song description (or analyze job result)")
    ap.add_argument("--generation", metavar="JSON", help="show the files of this generate job result (or job)")
    ap.add_argument("--files", nargs="+", metavar="PATH", help="show these MIDI/audio files with drag handles")
    ap.add_argument("--screenshot", metavar="PNG", help="render the window (offscreen if there is no display), "
                                                        "save it as PNG and exit")
    ap.add_argument("--wait", type=float, default=4.0, help="with --screenshot: seconds to wait for the daemon's "
                                                            "first answer (default 4)")
    ap.add_argument("--size", default="1100x720", help="window size WIDTHxHEIGHT (default 1100x720)")
    return ap


def _load_generation(path):
    import json

    with open(path, encoding="utf-8") as fh:
        obj = json.load(fh)
    if isinstance(obj, dict) and isinstance(obj.get("result"), dict):
        obj = obj["result"]
    return obj


def build_window(args):
    """The window for parsed command-line `args` (the QApplication must exist)."""
    given = bool(args.show_analysis or args.files or args.generation)
    win = CompanionWindow(endpoint=args.endpoint, token=args.token, home=args.home, poll=not args.no_daemon,
                          interval=args.interval)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        win.resize(w, h)
    except ValueError:
        pass
    if args.show_analysis:
        win.set_song(model.load_song(args.show_analysis))
    gens = []
    if args.generation:
        result = _load_generation(args.generation)
        gens.append(("generation \u00b7 " + model.generation_summary(result), model.generated_files(result),
                     result.get("out_dir")))
    if args.files:
        entries = [model.file_entry(p) for p in args.files]
        gens.append((model.files_title(entries), entries, None))
    if gens:
        win.set_generations(gens)
    win.given = given
    return win


def _wait_first_snapshot(app, win, seconds):
    import time

    def settled():  # an answer, and the device known (the daemon probes it on the first status request)
        snap = getattr(win, "last_snapshot", None)
        if snap is None:
            return False
        return not snap.get("ok") or ((snap.get("status") or {}).get("device") or {}).get("kind") is not None

    end = time.monotonic() + seconds
    while win.poller is not None and not settled() and time.monotonic() < end:
        if win.snapshots:
            win.poll_now()  # ask again at once rather than after the polling interval
        app.processEvents(QtCore.QEventLoop.AllEvents, 50)
        QThread.msleep(50)


def main(argv=None):
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if QtCore is None:
        print("bandmate ui needs PySide6: pip install -e \".[ui]\" (%s)" % _IMPORT_ERROR, file=sys.stderr)
        return 2
    if not os.environ.get("QT_QPA_PLATFORM") and not _has_display():
        if not args.screenshot:
            print("bandmate ui: no display (DISPLAY/WAYLAND_DISPLAY unset). Run it on your desktop, or render "
                  "offscreen with --screenshot out.png", file=sys.stderr)
            return 2
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    for p in [args.show_analysis, args.generation] + list(args.files or []):
        if p and not os.path.exists(p):
            print("bandmate ui: no such file: %s" % p, file=sys.stderr)
            return 2
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        _quiet_offscreen()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["bandmate-ui"])
    try:
        win = build_window(args)
    except (OSError, ValueError) as exc:
        print("bandmate ui: %s" % exc, file=sys.stderr)
        return 2
    win.show()
    if args.screenshot:
        if not args.no_daemon:
            _wait_first_snapshot(app, win, args.wait)
        app.processEvents()
        path = win.screenshot(args.screenshot)
        win.close()
        print(path)
        return 0
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
