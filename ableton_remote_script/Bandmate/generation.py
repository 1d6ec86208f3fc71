"""Generate stems that follow the Set: Live's tempo and meter, its key (Live 12's scale when scale mode is on,
else the last analysis), and the chords of the last analysed clip. Each stem becomes a new MIDI track with a
clip of its notes; the rendered audio becomes an audio clip where Live can make one from a file (Live 12.0.5+),
else it waits as a file in the User Library's Bandmate folder, ready to drag from Live's browser."""
import os
import shutil
import time

from . import live_api, music
from .handler import Handler, job_result, read_json

STEM_ORDER = ("drums", "bass", "keys", "chords", "guitar", "melody", "lead", "vocal")


class GenerationHandler(Handler):
    name = "generate"

    def __init__(self, surface, analysis):
        Handler.__init__(self, surface)
        self.analysis = analysis
        self.last = None  # {"job_id", "request", "result", "tracks": [...], "audio_clips": [...], "files": [...]}

    def live_key(self, song):
        """The Set's key on Live 12 (root_note/scale_name) when scale mode is on, else None."""
        if not (hasattr(song, "root_note") and hasattr(song, "scale_name")):
            return None
        if hasattr(song, "scale_mode") and not song.scale_mode:
            return None
        return music.key_from_live(song.root_note, song.scale_name)

    def build_request(self, song, stems=None):
        numerator, denominator = int(song.signature_numerator), int(song.signature_denominator)
        request = {"stems": stems or self.settings["generate_stems"], "tempo": round(float(song.tempo), 4),
                   "meter": "%d/%d" % (numerator, denominator)}
        last = self.analysis.last
        key = self.live_key(song)
        if key is None and last is not None:
            key = (last["song"].get("key") or {}).get("label")
        if key:
            request["key"] = key
        if last is not None:
            request["analysis"] = last["job_id"]
        bars = int(self.settings.get("generate_bars") or 0)
        if not bars and last is not None:
            bars = int(round(last["clip"]["length"] / music.bar_length(numerator, denominator)))
        if bars > 0:
            request["bars"] = max(1, min(bars, 64))
        if self.settings.get("generate_genre"):
            request["genre"] = self.settings["generate_genre"]
        if not self.settings.get("generate_render", True):
            request["render"] = False
        if int(self.settings.get("generate_seed", -1)) >= 0:
            request["seed"] = int(self.settings["generate_seed"])
        return request

    def run(self, stems=None):
        song = self.song()
        request = self.build_request(song, stems)
        out_dir = self.surface.output_dir(time.strftime("stems-%Y%m%d-%H%M%S"))
        self.status("generating %s..." % request["stems"])
        accepted = yield from self.link.call("generate", {"request": request, "out_dir": out_dir})
        job = yield from self.follow_job(accepted["job_id"], "generating")
        yield from self.apply(song, job_result(job), accepted["job_id"], request)

    def apply(self, song, result, job_id=None, request=None):
        """Flow step: the job's stems into Live (the result shape of the generate contract)."""
        self.last = {"job_id": job_id, "request": request, "result": result, "tracks": [], "audio_clips": [],
                     "files": []}
        stems = result.get("stems") or {}
        names = sorted(stems, key=lambda s: (STEM_ORDER.index(s) if s in STEM_ORDER else 99, s))
        key_text = music.key_label(result.get("key") or "")
        tempo = result.get("tempo") or song.tempo
        prefer = live_api.selected_scene_index(song)
        library = os.path.join(self.surface.user_library(), "Bandmate")
        for stem in names:
            info = stems[stem] or {}
            label = " | ".join(p for p in (stem.capitalize(), key_text, "%.0f BPM" % tempo) if p)
            notes_path = info.get("notes")
            if notes_path and os.path.exists(notes_path):
                data = read_json(notes_path)
                notes = data.get("notes") or []
                if notes:
                    bar = music.bar_length(int(song.signature_numerator), int(song.signature_denominator))
                    length = float(data.get("length_beats") or result.get("length_beats") or 0) or \
                        music.clip_length(notes, bar)
                    track = live_api.new_track(song, "midi", "BM %s" % stem.capitalize())
                    slot, clip = yield from live_api.create_midi_clip(song, track, length, prefer)
                    live_api.write_notes(clip, notes)
                    clip.name = label
                    self.last["tracks"].append(track)
            audio = info.get("audio")
            if audio and os.path.exists(audio):
                if live_api.can_create_audio_clips(song):  # probed on a slot: Live 12.0.5+
                    track = live_api.new_track(song, "audio", "BM %s audio" % stem.capitalize())
                    clip = yield from live_api.create_audio_clip(song, track, audio, prefer)
                    clip.name = label
                    self.last["audio_clips"].append(clip)
                else:
                    self.last["files"].append(self._to_library(audio, library))
        parts = ["%d MIDI tracks" % len(self.last["tracks"])]
        if self.last["audio_clips"]:
            parts.append("%d audio clips" % len(self.last["audio_clips"]))
        if self.last["files"]:
            parts.append("audio in User Library/Bandmate, drag from the browser")
        self.status("generated %s: %s" % (", ".join(names) or "nothing", ", ".join(parts)))

    @staticmethod
    def _to_library(path, library):
        """The file inside the User Library's Bandmate folder (copied there unless it already is)."""
        path = os.path.abspath(path)
        if os.path.normcase(path).startswith(os.path.normcase(os.path.abspath(library)) + os.sep):
            return path
        if not os.path.isdir(library):
            os.makedirs(library)
        target = os.path.join(library, os.path.basename(path))
        shutil.copyfile(path, target)
        return target
