"""Host names of the addresses an event talks to: `fd.sip.name`,
`fd.cip.name`, `fd.lip.name`, `fd.rip.name`.

Falco never reverse-resolves an event's address.  It resolves the names a
condition compares against (``fd.sip.name in (kubernetes.default.svc)``) to
addresses, keeps them refreshed in the background, and an event's field
matches a name when its address is among that name's addresses.

`HostNames` does the same off the hot path.  It keeps `index`, a dict
{packed address: (name bytes, ...)} that the extractors read with one
lookup, and swaps in a fresh dict whenever the answers change (one store,
atomic under the GIL).  The index is made of

- every name of the hosts file (`/etc/hosts`), read at once when a name is
  watched (forward resolution of those names gives the same answer), plus
  ``localhost`` (127.0.0.1, ::1) which resolvers answer without the file;
  an address with watched names answers with those only, so `!=` against
  one of them is exact (the filter compiler's list semantics would make it
  true through another name of the same address);
- each watched name's getaddrinfo() answer, from a background thread that
  re-resolves every `refresh` seconds, so a DNS name that points elsewhere
  later is followed.

`shared()` is the process-wide instance the pipeline wires into every
state engine; `watch()` is called with the names of the loaded rules.
"""
from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Callable, Iterable

__all__ = ["HostNames", "shared", "names_in_condition"]

#: The fields whose right-hand names are resolved.
NAME_FIELDS = frozenset({"fd.sip.name", "fd.cip.name", "fd.lip.name", "fd.rip.name"})


def _packed(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).packed
    except ValueError:
        return None


class HostNames:
    """Watched names -> addresses, and the reverse index the engine reads."""

    def __init__(self, hosts_file: str = "/etc/hosts", refresh: float = 30.0,
                 resolver: Callable[[str], Iterable[str]] | None = None) -> None:
        self.hosts_file = hosts_file
        self.refresh = refresh
        self._resolver = resolver or self._getaddrinfo
        self.index: dict[bytes, tuple[bytes, ...]] = {}
        self.watched: set[str] = set()
        self._resolved: dict[str, frozenset[bytes]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0                  # background resolution rounds done
        self.started = 0                 # and begun
        self._round_done = threading.Condition()

    # -- the rules' side ---------------------------------------------------------

    def watch(self, names: Iterable[str]) -> None:
        """Resolve these names from now on.  The hosts file answers at once;
        DNS answers arrive from the background thread."""
        new = {n for n in names if n} - self.watched
        if not new and self.index:
            return
        with self._lock:
            self.watched |= new
            self._rebuild()
        if new:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True,
                                                name="falco-dns-names")
                self._thread.start()
            else:
                self._wake.set()

    def wait_round(self, timeout: float = 5.0) -> bool:
        """Wait until a background round that started after this call is done."""
        with self._round_done:
            start = self.started
            self._wake.set()
            return self._round_done.wait_for(lambda: self.rounds > start, timeout)

    # -- the engine's side -------------------------------------------------------

    def names_for(self, addr: bytes) -> tuple[bytes, ...]:
        return self.index.get(bytes(addr), ())

    # -- internals ----------------------------------------------------------------

    def _hosts(self) -> dict[str, set[bytes]]:
        out: dict[str, set[bytes]] = {"localhost": {b"\x7f\0\0\x01", b"\0" * 15 + b"\x01"}}
        try:
            with open(self.hosts_file, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split("#", 1)[0].split()
                    if len(parts) < 2:
                        continue
                    addr = _packed(parts[0])
                    if addr is None:
                        continue
                    for name in parts[1:]:
                        out.setdefault(name.lower(), set()).add(addr)
        except OSError:
            pass
        return out

    def _rebuild(self) -> None:
        rev: dict[bytes, set[str]] = {}
        for name, addrs in self._hosts().items():
            for a in addrs:
                rev.setdefault(a, set()).add(name)
        for name, addrs in self._resolved.items():
            for a in addrs:
                rev.setdefault(a, set()).add(name)
        # An address answers with its watched names when it has any (so
        # `!=` on one of them is exact), else with all the file's names.
        watched = {w.lower() for w in self.watched}
        index = {}
        for a, names in rev.items():
            mine = names & watched
            index[a] = tuple(sorted(n.encode() for n in (mine or names)))
        self.index = index

    @staticmethod
    def _getaddrinfo(name: str) -> list[str]:
        return [ai[4][0] for ai in socket.getaddrinfo(name, None)
                if ai[0] in (socket.AF_INET, socket.AF_INET6)]

    def _work(self) -> None:
        while True:
            with self._round_done:
                self.started += 1
                self._wake.clear()
            for name in sorted(self.watched):
                try:
                    addrs = frozenset(a for a in (_packed(x) for x in self._resolver(name))
                                      if a is not None)
                except (OSError, UnicodeError, ValueError):
                    addrs = frozenset()      # unresolvable now: nothing matches it
                self._resolved[name.lower()] = addrs
            with self._lock:
                self._rebuild()
            with self._round_done:
                self.rounds += 1
                self._round_done.notify_all()
            self._wake.wait(self.refresh)


def names_in_condition(node) -> set[str]:
    """The names a condition compares fd.*ip.name fields against."""
    from falco_engine import filter_ast as ast
    out: set[str] = set()
    for n in ast.walk(node):
        if not isinstance(n, ast.Compare) or not isinstance(n.left, ast.FieldRef):
            continue
        if n.left.name not in NAME_FIELDS:
            continue
        if isinstance(n.right, ast.ListValue):
            out.update(str(x) for x in n.right.items)
        elif isinstance(n.right, ast.Value):
            out.add(n.right.text)
    return out


_SHARED: HostNames | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> HostNames:
    global _SHARED
    if _SHARED is None:
        with _SHARED_LOCK:
            if _SHARED is None:
                _SHARED = HostNames()
                _SHARED.watch(())
    return _SHARED
