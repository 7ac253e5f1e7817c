"""The session-wide check that no log line holds a secret (see plugin.py)."""
