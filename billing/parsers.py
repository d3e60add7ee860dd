"""The API's JSON parser: DRF's, reading decimal numbers exactly, and a clean 400 for JSON nested
too deeply to read."""

import codecs

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding
from rest_framework.utils import json

from pricing.decimals import JsonNumber

TOO_DEEP = "JSON parse error - the document is nested too deeply (more than about 1,000 levels)."


class JSONParser(parsers.JSONParser):
    """Parses JSON request bodies like DRF's parser, with two differences.

    Numbers with a fraction or an exponent are read as ``pricing.decimals.JsonNumber`` (a
    ``Decimal`` that remembers how it was written), not ``float``: ``0.1`` stays exactly 0.1,
    and ``1e3`` stays visibly an exponent for the decimal fields to refuse. A document nested
    beyond Python's recursion limit is a 400, where DRF let the ``RecursionError`` through as a
    500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        parse_constant = json.strict_constant if self.strict else None
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            return json.load(decoded_stream, parse_constant=parse_constant, parse_float=JsonNumber)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
