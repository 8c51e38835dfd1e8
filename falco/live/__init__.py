"""Live capture: the CO-RE eBPF probe, loaded through the system libbpf."""
from falco.live.bpf_source import BpfSource, BpfUnavailable, syscall_codes

__all__ = ["BpfSource", "BpfUnavailable", "syscall_codes"]
