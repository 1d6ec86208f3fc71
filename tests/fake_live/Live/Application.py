"""Live.Application: the running Live's version."""
from ._core import STATE, LiveObject


class Application(LiveObject):
    def get_major_version(self):
        return STATE.version[0]

    def get_minor_version(self):
        return STATE.version[1]

    def get_bugfix_version(self):
        return STATE.version[2]


_app = Application()


def get_application():
    return _app
