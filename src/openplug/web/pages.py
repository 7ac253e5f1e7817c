"""What every HTML page of openplug's answers to."""

from __future__ import annotations

# HEAD too: link checkers, uptime monitors and some proxies ask with HEAD
# before (or instead of) GET, and FastAPI routes answer GET alone (405).
PAGE_METHODS = ["GET", "HEAD"]
