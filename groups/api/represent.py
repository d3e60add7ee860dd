"""A serializer's output for many values at once, without DRF's per-field machinery.

DRF resolves every field of every value anew: ``get_attribute`` walks the source, asks whether
the value is a ``Mapping`` (an abstract-class check), iterates the readable fields. For 1,000
rating results of twenty fields with nested references that was most of a call's time.
:class:`Representation` looks at the serializer's fields once and keeps, for each, how to read
its value (a key of a dict, an attribute of an object) and the field's own
``to_representation``: the output is the serializer's, format for format (a property test
compares the two). A field it cannot read simply (a dotted or ``"*"`` source, a method field, a
value that is missing or callable) is read by DRF's own ``get_attribute``.
"""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.db.models import Manager
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

_MISSING = object()


class Representation:
    """``serializer.to_representation(value)`` for dicts and plain objects, compiled once."""

    def __init__(self, serializer: serializers.Serializer) -> None:
        self.serializer = serializer
        # A serializer that writes its own output keeps it.
        own = type(serializer).to_representation is not serializers.Serializer.to_representation
        self.steps = None if own else [_step(field) for field in serializer._readable_fields]

    def __call__(self, instance: Any) -> dict:
        if self.steps is None:
            return self.serializer.to_representation(instance)
        out = {}
        from_dict = type(instance) is dict
        for name, key, field, convert in self.steps:
            value = _MISSING
            if key is not None:
                if from_dict:
                    value = instance.get(key, _MISSING)
                else:
                    value = getattr(instance, key, _MISSING)
                    if callable(value) and not isinstance(value, Manager):
                        value = _MISSING
            if value is _MISSING:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            check = value.pk if isinstance(value, PKOnlyObject) else value
            out[name] = None if check is None else convert(value)
        return out


def _step(field: serializers.Field) -> tuple[str, str | None, serializers.Field, Callable]:
    simple = (
        len(field.source_attrs) == 1
        and type(field).get_attribute is serializers.Field.get_attribute
        and not isinstance(field, serializers.SerializerMethodField)
    )
    key = field.source_attrs[0] if simple else None
    return field.field_name, key, field, _converter(field)


def _converter(field: serializers.Field) -> Callable:
    if isinstance(field, serializers.ListSerializer) and isinstance(
        field.child, serializers.Serializer
    ):
        child, own = Representation(field.child), field.to_representation

        def many(values):
            # A related manager goes through DRF (it calls .all()); lists are read directly.
            if isinstance(values, Manager):
                return own(values)
            return [child(value) for value in values]

        return many
    if isinstance(field, serializers.Serializer):
        return Representation(field)
    return field.to_representation


@cache
def representation(serializer_class: type[serializers.Serializer]) -> Representation:
    """The compiled output of ``serializer_class`` (no context), built once per process."""
    return Representation(serializer_class())
