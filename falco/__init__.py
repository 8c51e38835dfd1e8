"""falco: runtime security for Linux, Falco rules on kernel events."""

__version__ = "0.1.0"
