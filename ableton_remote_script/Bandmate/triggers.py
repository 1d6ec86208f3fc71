"""Actions without a UI: Remote Scripts cannot add menus, so the selected clip's name is the button. Rename a
clip to end in "[bm analyze]", "[bm generate]" or "[bm live]" and the script acts on it (and removes the tag).

Live forbids changing the Set from inside a notification, so the listeners only queue the action; the tick
runs it."""
import re

TAG = re.compile(r"\s*\[\s*bm\s+(analy[sz]e|generate|live)\s*\]\s*$", re.IGNORECASE)


def tag_of(name):
    """('analyze' | 'generate' | 'live', name without the tag) or (None, name)."""
    match = TAG.search(name or "")
    if not match:
        return None, name
    action = match.group(1).lower().replace("analyse", "analyze")
    return action, name[:match.start()]


class ClipNameTriggers(object):
    """Listens to the selected clip and its name; calls queue(action, clip) when a tag appears."""

    def __init__(self, song, queue):
        self.song = song
        self.queue = queue
        self.clip = None
        song.view.add_detail_clip_listener(self._on_detail_clip)
        self._on_detail_clip()

    def _on_detail_clip(self):
        self._unwatch()
        clip = self.song.view.detail_clip
        if clip is not None:
            self.clip = clip
            clip.add_name_listener(self._on_name)
            self._on_name()

    def _on_name(self):
        clip = self.clip
        if clip is None:
            return
        action, _ = tag_of(clip.name)
        if action:
            self.queue(action, clip)

    def _unwatch(self):
        clip, self.clip = self.clip, None
        if clip is not None:
            try:
                if clip.name_has_listener(self._on_name):
                    clip.remove_name_listener(self._on_name)
            except (RuntimeError, AttributeError):
                pass  # the clip was deleted

    def disconnect(self):
        self._unwatch()
        try:
            if self.song.view.detail_clip_has_listener(self._on_detail_clip):
                self.song.view.remove_detail_clip_listener(self._on_detail_clip)
        except (RuntimeError, AttributeError):
            pass
