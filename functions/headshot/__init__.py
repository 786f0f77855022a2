"""Headshot pipeline domain package: photo intake, face checks, policy, and (later) jobs."""

__version__ = "0.1.0"
