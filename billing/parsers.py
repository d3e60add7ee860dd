"""The API's JSON parser: DRF's, with a clean 400 for JSON nested too deeply to read."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

TOO_DEEP = "JSON parse error - the document is nested too deeply (more than about 1,000 levels)."


class JSONParser(parsers.JSONParser):
    """Parses JSON request bodies; a document nested beyond Python's recursion limit is a 400.

    DRF's parser turns ``ValueError`` into a 400 but lets ``RecursionError`` through as a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
