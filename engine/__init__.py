"""falco_engine: decode, state and rule evaluation, compiled with Cython.

Nothing here imports the `falco` package: configuration and outputs live
above the engine, never inside it.
"""
