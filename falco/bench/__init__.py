"""Benchmark helpers: looped captures and throughput measurements."""
