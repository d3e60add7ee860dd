"""A serializer's input for many rows at once, without DRF's per-field machinery.

DRF validates a row by walking every field through ``run_validation``: ``get_value`` (a
``Mapping`` check, HTML-form handling), ``validate_empty_values``, the conversion, then each
validator inside its own error collection, then the ``validate_<field>`` methods and
``validate``. For 10,000 usage records that orchestration cost more than the conversions.
:class:`Intake` looks at the serializer's fields once and, for a row that is plain (a dict with
only known keys, every required one present, no value ``None`` or blank), calls each field's own
``to_internal_value`` and validators, then the serializer's own ``validate_<field>`` methods and
``validate``: the serializer's checks and conversions, in the serializer's code. Anything else,
and any row one of those checks refuses, goes through ``run_validation`` itself, which writes
the error messages. A property test compares the two on valid and invalid rows.
"""

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

# validate_empty_values that differ from Field's only for input the quick path refuses anyway:
# DecimalField's reads a blank value as null, and a blank value is not a number.
_EMPTY_VALUES_AS_DRF = (
    serializers.Field.validate_empty_values,
    serializers.DecimalField.validate_empty_values,
)


_UNSEEN = object()


class _Slow(Exception):
    """This row goes through DRF."""


class Intake:
    """``serializer.run_validation(row)``, compiled once, for rows of plain values."""

    def __init__(self, serializer: serializers.Serializer) -> None:
        self.serializer = serializer
        fields = serializer.fields
        self.steps: dict[str, tuple[Callable, tuple, bool, Callable | None]] | None = {}
        if serializer.validators or type(serializer).to_internal_value is not (
            serializers.Serializer.to_internal_value
        ):
            fields = {}
            self.steps = None
        for name, field in fields.items():
            plain = (
                not field.read_only
                and field.source == name
                and not any(getattr(v, "requires_context", False) for v in field.validators)
                and type(field).run_validation
                in (serializers.Field.run_validation, serializers.CharField.run_validation)
                and type(field).validate_empty_values in _EMPTY_VALUES_AS_DRF
                and type(field).get_value is serializers.Field.get_value
                and field.default is serializers.empty
            )
            if not plain:
                self.steps = None  # a field this cannot read as DRF would: every row goes to DRF
                break
            own = getattr(serializer, f"validate_{name}", None)
            blank_matters = isinstance(field, serializers.CharField)
            self.steps[name] = (
                field.to_internal_value,
                tuple(field.validators),
                blank_matters,
                own,
            )
        self.required = frozenset(name for name, field in fields.items() if field.required)

    def __call__(self, row: Any, memo: dict | None = None) -> Mapping:
        """The validated data of ``row``; DRF's ``ValidationError`` when it is refused.

        ``memo`` (a dict the caller keeps for one batch of rows) remembers each field's value
        for a text seen before in that field: categories, items and customers repeat over a
        batch, and every conversion and check is a function of the text alone.
        """
        if self.steps is not None and type(row) is dict:
            try:
                return self._quick(row, {} if memo is None else memo)
            except (_Slow, serializers.ValidationError, DjangoValidationError):
                pass  # DRF says it again, with its messages
        return self.serializer.run_validation(row)

    def _quick(self, row: dict, memo: dict) -> dict:
        steps = self.steps
        if not self.required <= row.keys():
            raise _Slow
        attrs = {}
        for name, raw in row.items():
            if type(raw) is str:
                value = memo.get((name, raw), _UNSEEN)
                if value is not _UNSEEN:
                    attrs[name] = value
                    continue
            step = steps.get(name)
            if step is None or raw is None:
                raise _Slow
            convert, validators, blank_matters, own = step
            if blank_matters and (type(raw) is not str or not raw.strip()):
                raise _Slow
            value = convert(raw)
            for validator in validators:
                validator(value)
            if own is not None:
                value = own(value)
            attrs[name] = value
            if type(raw) is str:
                memo[name, raw] = value
        return self.serializer.validate(attrs)


@cache
def intake(serializer_class: type[serializers.Serializer]) -> Intake:
    """One :class:`Intake` per serializer class, shared (fields and checks are pure)."""
    return Intake(serializer_class())
