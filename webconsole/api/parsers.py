"""The API's request body parser."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a body nested deeper than the standard decoder's recursion can
    follow refused like any other malformed body (400 ``parse_error``). DRF catches only
    ``ValueError``; ``json`` raises ``RecursionError`` there, which would be a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
