"""Paged lists as ECR pages them: ``tags/list`` and ``_catalog``.

What ECR does, and clients must cope with (docs/ecr-front.md has the sources):
- at most 100 entries when the client gives no ``n``; ``n`` above 1000 is refused (405
  ``UNSUPPORTED``, "Invalid parameter at 'maxResults' ...");
- the next page is announced by an absolute ``Link: <...?last=TOKEN>; rel="next"`` whose
  ``last`` is an opaque token, not the last entry of the page;
- entries are not in lexical order.
The front orders entries by a hash (stable, never lexical) and signs its tokens, so a client
that builds ``last=<tag>`` itself gets the validation error a made-up nextToken gets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from ecr_replicate_local.ecr_front import answers
from ecr_replicate_local.ecr_front.answers import Answer

DEFAULT_PAGE = 100
MAX_PAGE = 1000


@dataclass(frozen=True)
class Page:
    entries: list[str]
    next_token: str | None


class Paginator:
    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, scope: str, offset: int) -> str:
        payload = f"{offset}".encode()
        mac = hmac.new(self._secret, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(payload + b"." + mac).decode().rstrip("=")

    def _offset(self, scope: str, token: str) -> int | None:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload, _, _mac = raw.partition(b".")
            offset = int(payload)
        except (ValueError, TypeError):
            return None
        return offset if hmac.compare_digest(self._sign(scope, offset), token) else None

    def page(self, scope: str, entries: Sequence[str], query: str) -> Page | Answer:
        """The page ``query`` (``n``, ``last``) asks for, or ECR's validation error."""
        params = parse_qs(query, keep_blank_values=True)
        size = DEFAULT_PAGE
        if "n" in params:
            try:
                size = int(params["n"][-1])
            except ValueError:
                return answers.invalid_parameter("maxResults", "Member must be a number")
            if size > MAX_PAGE:
                return answers.invalid_parameter(
                    "maxResults", "Member must have value less than or equal to 1000"
                )
            if size < 1:
                return answers.invalid_parameter(
                    "maxResults", "Member must have value greater than or equal to 1"
                )
        offset = 0
        if "last" in params:
            found = self._offset(scope, params["last"][-1])
            if found is None:
                return answers.invalid_parameter("nextToken", "Member must be a token from a previous page")
            offset = found
        ordered = sorted(entries, key=lambda entry: hashlib.sha256(entry.encode()).digest())
        chosen = ordered[offset : offset + size]
        more = offset + size < len(ordered)
        return Page(chosen, self._sign(scope, offset + size) if more else None)


def next_link(base_url: str, path: str, token: str) -> tuple[str, str]:
    return ("Link", f'<{base_url}{quote(path)}?last={token}>; rel="next"')
