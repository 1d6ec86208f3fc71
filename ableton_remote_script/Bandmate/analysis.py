"""Analyse the selected clip (Session or Arrangement) and bring the answer into Live: cue points named after the
sections, a MIDI clip holding the chord track, the key and tempo in that clip's name, and (Live 12, only when
the `set_song_scale` setting says so) the Set's root note and scale."""
import os
import time

from . import live_api, music
from .handler import Handler, UserError, job_result

MAX_INLINE_NOTES = 400  # beyond this a MIDI clip travels as a .mid file (UDP packets stay under 32 KiB)


class AnalysisHandler(Handler):
    name = "analyze"

    def __init__(self, surface):
        Handler.__init__(self, surface)
        self.last = None  # {"job_id", "song", "clip": describe_clip(...), "chord_clip", "cues"}

    def run(self, clip=None):
        """The analyse flow. `clip` defaults to the selected clip (song.view.detail_clip)."""
        song = self.song()
        if clip is None:
            clip = song.view.detail_clip
        if clip is None:
            raise UserError("select a clip (Session or Arrangement), then analyse")
        info = self.describe_clip(song, clip)
        self.status("analysing '%s'..." % info["name"])
        accepted = yield from self.link.call("analyze", info["params"])
        job = yield from self.follow_job(accepted["job_id"], "analysing")
        result = job_result(job)
        description = result.get("song", result)
        self.last = {"job_id": accepted["job_id"], "song": description, "clip": info}
        yield from self.apply(song, description, info)

    # the request -------------------------------------------------------------------------------------------------

    def describe_clip(self, song, clip):
        """What the daemon needs to analyse `clip`, and how to map its beats back onto the Set."""
        numerator, denominator = int(song.signature_numerator), int(song.signature_denominator)
        tempo = float(song.tempo)
        context = {"tempo": round(tempo, 4), "meter": [numerator, denominator]}
        start_marker = float(clip.start_marker)
        offset = float(clip.start_time) if live_api.is_arrangement_clip(clip) else 0.0
        info = {"name": clip.name or "clip", "tempo": tempo, "meter": (numerator, denominator),
                "offset": offset, "start_marker": start_marker, "length": float(clip.length)}
        # the clip's own markers travel along (the daemon keeps context keys it does not use)
        context["clip"] = {"name": info["name"], "start_marker": start_marker, "end_marker": float(clip.end_marker),
                           "looping": bool(clip.looping), "loop_start": float(clip.loop_start),
                           "loop_end": float(clip.loop_end), "position": offset,
                           "view": "arrangement" if live_api.is_arrangement_clip(clip) else "session"}
        out_dir = self.surface.output_dir("analyses")
        if clip.is_audio_clip:
            path = clip.file_path
            if not path:
                raise UserError("the audio clip '%s' has no file on disk" % info["name"])
            markers = live_api.warp_markers(clip)
            if markers:
                # the Set's beats: the clip plays from start_marker at `offset`
                context["warp_markers"] = [[round(offset + b - start_marker, 6), round(s, 6)] for b, s in markers]
                start = live_api.beat_to_seconds(markers, start_marker)
                end = live_api.beat_to_seconds(markers, float(clip.end_marker))
            else:
                # unwarped: Live gives the markers in seconds of the file
                context["beat_offset"] = offset
                start, end = start_marker, float(clip.end_marker)
            params = {"path": path, "context": context, "out_dir": out_dir}
            if start is not None and start > 0:
                params["start"] = round(start, 6)
            if end is not None and (start is None or end > start):
                params["end"] = round(end, 6)
            info.update(kind="audio", params=params, song_shift=0.0, clip_shift=-offset)
            return info
        notes = live_api.read_notes(clip)
        if not notes:
            raise UserError("the MIDI clip '%s' has no notes to analyse" % info["name"])
        params = {"context": context, "out_dir": out_dir}
        if len(notes) > MAX_INLINE_NOTES:
            path = self.write_midi(out_dir, info["name"], notes, tempo, numerator, denominator)
            params["path"] = path
        else:
            params["notes"] = notes
        info.update(kind="midi", params=params, song_shift=offset - start_marker, clip_shift=-start_marker,
                    n_notes=len(notes))
        return info

    def write_midi(self, out_dir, name, notes, tempo, numerator, denominator):
        if not os.path.isdir(out_dir):
            os.makedirs(out_dir)
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "clip"
        path = os.path.join(out_dir, "%s-%d.mid" % (safe, int(time.time() * 1000)))
        with open(path, "wb") as fh:
            fh.write(music.midi_file_bytes(notes, tempo, numerator, denominator))
        return path

    # the answer in Live ------------------------------------------------------------------------------------------

    def apply(self, song, description, info):
        """Flow step: cue points, the chord clip, names, and (opt-in) the Set's scale."""
        song_shift, clip_shift = info["song_shift"], info["clip_shift"]
        tempo = description.get("bpm") or info["tempo"]
        key = description.get("key") or {}
        key_text = music.key_label(key)
        self._beats(description, info)

        cues = 0
        if description.get("sections"):
            restore = song.current_song_time
            seen = set()
            for section in description["sections"]:
                beat = round(section["start_beat"] + song_shift, 3)
                if beat < 0 or beat in seen:
                    continue
                seen.add(beat)
                added = yield from live_api.add_cue(song, beat, music.section_name(section))
                cues += 1 if added else 0
            song.current_song_time = restore

        chord_clip = None
        notes = music.chord_notes(description.get("chords") or [], lambda b: b + clip_shift)
        if notes:
            bar = music.bar_length(*info["meter"])
            length = max(music.clip_length(notes, bar), bar)
            track = live_api.midi_track(song, self.settings["chord_track_name"])
            prefer = live_api.selected_scene_index(song)
            slot, chord_clip = yield from live_api.create_midi_clip(song, track, length, prefer)
            live_api.write_notes(chord_clip, notes)
            chord_clip.name = " | ".join(p for p in ("Chords", key_text, "%.0f BPM" % tempo if tempo else "") if p)

        scale_set = False
        if self.settings.get("set_song_scale") and hasattr(song, "root_note") and hasattr(song, "scale_name"):
            live_key = music.key_to_live(key)
            if live_key is not None:
                song.root_note, song.scale_name = live_key
                scale_set = True

        if self.last is not None:
            self.last.update(chord_clip=chord_clip, cues=cues, scale_set=scale_set)
        n_chords = len([c for c in description.get("chords") or [] if c.get("label") not in ("N", "X")])
        parts = [key_text, "%.0f BPM" % tempo if tempo else "", "%d chords" % n_chords if n_chords else "",
                 "%d cue points" % cues if cues else ""]
        if not n_chords:
            parts.append("no chords found")
        self.status("'%s': %s" % (info["name"], ", ".join(p for p in parts if p)))

    @staticmethod
    def _beats(description, info):
        """Chord and section beats for answers that came without them (no DAW beats in the description)."""
        tempo = info["tempo"]
        base = info["offset"] if info["kind"] == "audio" else info["start_marker"]
        for seg in (description.get("chords") or []) + (description.get("sections") or []):
            if "start_beat" not in seg and "start" in seg:
                seg["start_beat"] = base + seg["start"] * tempo / 60.0
                seg["end_beat"] = base + seg["end"] * tempo / 60.0
