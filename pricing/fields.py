"""Model fields of pricing."""

from decimal import Decimal

from django.db import models


class ExactDecimalField(models.DecimalField):
    """A decimal stored exactly on every database.

    PostgreSQL's ``numeric`` is exact. SQLite has no decimal type: a decimal column holds 64-bit
    floats, exact to 15 significant digits, so ``12345678900123.46`` would read back as
    ``12345678900123.50``. On SQLite this field stores the value as an integer count of its
    smallest unit (``10^-decimal_places``), which SQLite keeps exactly; lookups, ordering and
    ``SUM`` stay numeric and exact, and values convert on the way in and out.
    """

    def db_type(self, connection):
        if connection.vendor == "sqlite":
            return "integer"
        # Looked up by name: the internal type below is not this field's column type.
        column = connection.data_types["DecimalField"]
        data = self.db_type_parameters(connection)
        return column(data) if callable(column) else column % data

    def get_internal_type(self) -> str:
        # Not "DecimalField": SQLite's decimal converter would round the integer to 15 digits,
        # and expressions would CAST it to NUMERIC. No backend knows this name, so none converts
        # the values; from_db_value below does (on SQLite only), for columns and aggregates.
        return "ExactDecimalField"

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "sqlite":
            return connection.ops.adapt_decimalfield_value(
                self.to_python(value), self.max_digits, self.decimal_places
            )
        if value is None:
            return None
        return int(self.to_python(value).scaleb(self.decimal_places))

    def from_db_value(self, value, expression, connection):
        if value is None or connection.vendor != "sqlite":
            return value
        return Decimal(int(value)).scaleb(-self.decimal_places)
