"""What parameter rendering (engine/params.py) may ask of the state engine.

`StateView(engine)` answers the `params.StateView` protocol from a live
`StateEngine`, so `falco events` can print ``fd=3(<f>/etc/passwd)`` and
``pid=842(curl)`` as sysdig does.  Answers reflect the state at the time
of the call: render an event right after the engine processed it.
"""
from __future__ import annotations

from falco_engine.state import StateEngine

__all__ = ["StateView"]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# scap_l4_proto -> the letter after an inet socket's type char.
_L4_LETTERS = {2: "t", 3: "u", 4: "i", 5: "r"}


class StateView:
    """Read-only answers about threads, fds, users and groups."""

    def __init__(self, engine: StateEngine) -> None:
        self.engine = engine

    def fd_info(self, tid: int, fd: int) -> tuple[str, str] | None:
        """(type char, name) of fd `fd` of thread `tid`'s process."""
        t = self.engine.thread(tid)
        if t is None:
            return None
        fi = t.fds.get(fd)
        if fi is None:
            return None
        # A named socket carries its transport too, as sysdig prints it:
        # <4t>10.0.0.1:80->...; a bare one is just <4>.
        name = _text(fi.name)
        return fi.typechar + (_L4_LETTERS.get(fi.l4proto, "") if name else ""), name

    def comm(self, tid: int) -> str | None:
        t = self.engine.thread(tid)
        return None if t is None else _text(t.comm)

    def cwd(self, tid: int) -> str | None:
        t = self.engine.thread(tid)
        if t is None:
            return None
        main = self.engine.thread(t.pid)
        return _text((main or t).cwd) or None

    def user_name(self, uid: int) -> str | None:
        return self.engine.user_name(uid)

    def group_name(self, gid: int) -> str | None:
        return self.engine.group_name(gid)
