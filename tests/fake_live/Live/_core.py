"""The machinery behind the fake `Live` package: Live's rules, enforced.

- Main thread: every public attribute of a Live object is touched on the thread that runs the host's ticks
  (Live's main thread); anything else raises AssertionError.
- No changes from notifications: a listener that changes the Set while Live notifies raises RuntimeError, with
  Live's own message.
- Versions: features newer than STATE.version are absent (hasattr is False), as in that Live.
- Deferred edits: a new clip appears in its slot on Live's next tick, not at once.
"""
import threading


class _State(object):
    def __init__(self):
        self.reset()

    def reset(self, version=(12, 1, 0)):
        self.version = tuple(version)
        self.main_thread = threading.get_ident()
        self.notifying = 0
        self.pending = []      # callables Live runs on its next tick


STATE = _State()


def check_thread(what):
    if threading.get_ident() != STATE.main_thread:
        raise AssertionError("Live API used off the main thread: %s" % what)


def check_change(what):
    check_thread(what)
    if STATE.notifying:
        raise RuntimeError("Changes cannot be triggered by notifications. You will need to defer your response. "
                           "(%s)" % what)


def run_pending():
    """Live's own tick: finish deferred edits."""
    pending, STATE.pending = STATE.pending, []
    for fn in pending:
        fn()


class LiveObject(object):
    """Base of every fake Live object. `_since` maps attribute names to the first Live version that has them;
    `_observable` names the properties with add_/remove_/has_ listener methods."""

    _since = {}
    _observable = ()

    def __getattribute__(self, name):
        if not name.startswith("_"):
            cls = object.__getattribute__(self, "__class__")
            since = cls._since.get(name)
            if since is not None and STATE.version < since:
                raise AttributeError("%s has no attribute %r in Live %s" % (
                    cls.__name__, name, ".".join(map(str, STATE.version))))
            check_thread("%s.%s" % (cls.__name__, name))
        return object.__getattribute__(self, name)

    def __getattr__(self, name):
        # add_<prop>_listener / remove_<prop>_listener / <prop>_has_listener for observable properties
        for prefix, suffix, kind in (("add_", "_listener", "add"), ("remove_", "_listener", "remove"),
                                     ("", "_has_listener", "has")):
            if name.startswith(prefix) and name.endswith(suffix):
                prop = name[len(prefix):len(name) - len(suffix)]
                if prop in type(self)._observable:
                    return lambda cb, _p=prop, _k=kind: self._listener(_k, _p, cb)
        raise AttributeError("%s has no attribute %r" % (type(self).__name__, name))

    def _listener(self, kind, prop, cb):
        listeners = self.__dict__.setdefault("_listeners", {}).setdefault(prop, [])
        if kind == "add":
            if cb in listeners:
                raise RuntimeError("Listener already connected")
            listeners.append(cb)
        elif kind == "remove":
            if cb not in listeners:
                raise RuntimeError("Listener not connected")
            listeners.remove(cb)
        else:
            return cb in listeners

    def _notify(self, prop):
        STATE.notifying += 1
        try:
            for cb in list(self.__dict__.get("_listeners", {}).get(prop, [])):
                cb()
        finally:
            STATE.notifying -= 1

    def _set(self, prop, value):
        """Change a property from Live's side (no rule check) and notify."""
        if self.__dict__.get("_" + prop) != value:
            self.__dict__["_" + prop] = value
            self._notify(prop)


def prop(name, settable=True, check=None):
    """A Live property: read anywhere on the main thread; set (when settable) outside notifications."""
    key = "_" + name

    def get(self):
        return self.__dict__.get(key)

    def set_(self, value):
        if not settable:
            raise AttributeError("can't set attribute %r" % name)
        check_change("%s.%s = %r" % (type(self).__name__, name, value))
        if check is not None:
            value = check(value)
        self._set(name, value)

    return property(get, set_)
