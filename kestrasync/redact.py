"""The one redaction of the known credentials that everything leaving the process goes through
(printed output, JSON, plan files): an error page that echoes the request must not put the
password on the terminal.

Each secret is hidden in every form it may take in text: as it is, escaped inside a JSON string,
URL-encoded, and inside a Basic Authorization header (base64 of `user:password`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

HIDDEN = "***"


class Redactor:
    """`redactor(text)`: the text with every form of every secret replaced by ***."""

    def __init__(self, secrets: Iterable[str] = ()):
        forms = set()
        for secret in secrets:
            if secret:
                forms |= {secret, json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote_plus(secret)}
        self._forms = sorted(forms, key=len, reverse=True)  # longest first: a form inside another goes with it

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, HIDDEN)
        return text

    def __bool__(self) -> bool:
        return bool(self._forms)
