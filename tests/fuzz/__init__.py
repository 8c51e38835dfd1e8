"""Fuzz targets of every input surface (issue #10): see targets.py and run.py."""
