"""Find secrets in text, whole or in part, without printing them.

Three searches per line:

- every shaped kind on sight (``opl_aat_...``, a JWT), registered or not;
- the secret part of every registered value (a token without its prefix,
  a JWT's signature, a generated password) as any run of ``GRAM + STRIDE
  - 1`` consecutive characters of it: a leak that was cut short or elided
  (websockets logs a frame as its head ``...`` its tail) is still found;
- a registered value that is not one run of URL-safe characters (a typed
  passphrase) as a plain substring.

A report names the kind, the file and line, and the line with each secret
replaced by ``<kind>``: never the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.leaks.registry import KIND_BY_NAME, URLSAFE, Secret, shaped_secrets

GRAM = 12  # 72 random bits: no innocent text contains one
STRIDE = 6
RUNS = re.compile(f"[{URLSAFE}]{{{GRAM},}}")
_ONE_RUN = re.compile(f"[{URLSAFE}]+")
MAX_SHOWN = 240


@dataclass(frozen=True)
class Leak:
    kind: str
    source: str
    line_no: int
    line: str  # redacted
    planted: bool = False
    # Only to tell which planted secrets were found; never shown.
    secret: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.kind} in {self.source}:{self.line_no}: {self.line}"


class Detector:
    """Searches for ``secrets``; shaped values in ``allowed`` are not leaks
    (the CLI's own once-printed credentials); values in ``planted`` are
    reported as planted."""

    def __init__(
        self,
        secrets: Iterable[Secret],
        *,
        allowed: frozenset[str] = frozenset(),
        planted: frozenset[str] = frozenset(),
    ) -> None:
        self.allowed = allowed
        self.planted = planted
        self.lines = 0
        self._grams: dict[str, tuple[str, str]] = {}  # gram -> (kind, value)
        self._substrings: list[tuple[str, str]] = []  # (value, kind)
        for secret in secrets:
            if secret.value in allowed:
                continue
            part = KIND_BY_NAME[secret.kind].secret_part(secret.value)
            if len(part) >= GRAM and _ONE_RUN.fullmatch(part):
                starts = {*range(0, len(part) - GRAM + 1, STRIDE), len(part) - GRAM}
                for start in starts:
                    self._grams[part[start : start + GRAM]] = (secret.kind, secret.value)
            else:
                self._substrings.append((part, secret.kind))

    def leaks_in(self, line: str) -> tuple[dict[str, str], list[tuple[str, tuple[int, int]]]]:
        """The secrets found in ``line`` (value -> kind) and every span
        where one or a part of one is (kind, span)."""
        found: dict[str, str] = {}
        spans: list[tuple[str, tuple[int, int]]] = []
        for kind, match in shaped_secrets(line):
            if match.group() not in self.allowed:
                found.setdefault(match.group(), kind.name)
                spans.append((kind.name, match.span()))
        grams = self._grams
        if grams:
            for run in RUNS.finditer(line):
                text = run.group()
                kinds: set[str] = set()
                for i in range(len(text) - GRAM + 1):
                    hit = grams.get(text[i : i + GRAM])
                    if hit is not None:
                        found.setdefault(hit[1], hit[0])
                        kinds.add(hit[0])
                spans.extend((kind, run.span()) for kind in sorted(kinds))
        for value, kind in self._substrings:
            start = line.find(value)
            while start >= 0:
                found.setdefault(value, kind)
                spans.append((kind, (start, start + len(value))))
                start = line.find(value, start + 1)
        return found, spans

    def scan_lines(self, lines: Iterable[str], source: str) -> Iterator[Leak]:
        for line_no, line in enumerate(lines, 1):
            self.lines += 1
            found, spans = self.leaks_in(line)
            if not found:
                continue
            shown = _redact(line, spans)
            for value, kind in found.items():
                yield Leak(kind, source, line_no, shown, value in self.planted, value)

    def scan_file(self, path: Path) -> Iterator[Leak]:
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield from self.scan_lines((line.rstrip("\n") for line in lines), path.name)


def _redact(line: str, spans: list[tuple[str, tuple[int, int]]]) -> str:
    merged: list[tuple[int, int, str]] = []
    for kind, (start, end) in sorted(spans, key=lambda s: s[1]):
        if merged and start < merged[-1][1]:
            first, last, kinds = merged[-1]
            merged[-1] = (first, max(last, end), kinds if kind in kinds else f"{kinds}, {kind}")
        else:
            merged.append((start, end, kind))
    for start, end, kinds in reversed(merged):
        line = line[:start] + f"<{kinds}>" + line[end:]
    if len(line) <= MAX_SHOWN:
        return line
    # Around the first secret (replacing from the end kept its position).
    first = max(0, merged[0][0] - MAX_SHOWN // 3)
    window = line[first : first + MAX_SHOWN]
    return ("..." if first else "") + window + ("..." if first + MAX_SHOWN < len(line) else "")
