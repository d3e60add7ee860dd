"""Lost updates refused: every edit says which version it started from.

Groups, price lists, their items and rules count their saves (``version``, see
:class:`groups.models.Versioned`). An editor carries the version it loaded (a hidden field on the
pages, ``If-Match`` on the API) and the service that writes calls :func:`check` first: it locks
the row and refuses with :class:`StaleEdit` when the row has moved on, describing what changed
from the history (django-simple-history) so the editor can decide again.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.utils import timezone

STALE_EDIT = "“{name}” was changed{by} after you opened it. Your changes were not saved."
STALE_BY = " by {who} at {when:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class Change:
    """One field that differs between the version an editor loaded and the current one."""

    name: str
    label: str
    was: str
    now: str


@dataclass
class StaleEdit(Exception):
    """A write made from a version that is no longer current (nothing was written)."""

    instance: models.Model
    current_version: int
    changes: list[Change] | None = field(default=None)
    who: str = ""
    when: datetime | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def message(self) -> str:
        by = STALE_BY.format(who=self.who, when=timezone.localtime(self.when)) if self.who else ""
        return STALE_EDIT.format(name=self.instance, by=by)


Expected = int | Collection[int] | None


def check(
    instance: models.Model, expected: Expected, *, fields: Iterable[str] | None = None
) -> None:
    """Lock ``instance``'s row and refuse the write unless it is still at ``expected``.

    ``expected`` is the version the editor loaded (several versions, from an ``If-Match`` list,
    match any of them; ``None`` checks nothing but still locks). With ``fields``, a newer version
    is only a conflict when one of those fields changed since ``expected`` (a page editing a
    price list's name does not care that an item was added meanwhile); without, any newer
    version is (the API's ``If-Match``). On success ``instance.version`` is the locked one, so
    the save that follows counts from it.
    """
    model = type(instance)
    current = (
        model._base_manager.select_for_update()
        .filter(pk=instance.pk)
        .values_list("version", flat=True)
        .first()
    )
    if current is None:
        raise model.DoesNotExist(f"{model._meta.verbose_name} {instance.pk} no longer exists.")
    instance.version = current
    if expected is None or _matches(current, expected):
        return
    loaded = expected if isinstance(expected, int) else None
    changes, who, when = changes_since(model, instance.pk, loaded)
    if fields is not None and changes is not None:
        wanted = set(fields)
        if not any(change.name in wanted for change in changes):
            return
        changes = [change for change in changes if change.name in wanted]
    raise StaleEdit(instance, current, changes, who, when)


def _matches(current: int, expected: int | Collection[int]) -> bool:
    return current == expected if isinstance(expected, int) else current in expected


def changes_since(
    model: type[models.Model], pk, version: int | None
) -> tuple[list[Change] | None, str, datetime | None]:
    """What changed in the row since ``version``: ``(changes, who, when)`` of the latest save.

    ``changes`` is ``None`` when the history does not hold ``version`` (a row created in bulk,
    or an unknown version), in which case only who saved last is known.
    """
    records = model.history.filter(**{model._meta.pk.attname: pk})
    latest = records.order_by("-history_date", "-history_id").select_related("history_user").first()
    if latest is None:
        return None, "", None
    user = latest.history_user
    who = user.get_username() if user is not None else "the system"
    then = (
        records.filter(version=version).order_by("-history_date", "-history_id").first()
        if version is not None
        else None
    )
    if then is None:
        return None, who, latest.history_date
    names = [f.name for f in latest.tracked_fields if f.editable and f.name != "id"]
    delta = latest.diff_against(then, included_fields=names)
    by_name = {f.name: f for f in latest.tracked_fields}
    changes = [
        Change(
            name=c.field,
            label=_label(by_name[c.field]),
            was=_display(by_name[c.field], c.old, then),
            now=_display(by_name[c.field], c.new, latest),
        )
        for c in delta.changes
    ]
    return changes, who, latest.history_date


def format_value(value: object) -> str:
    """A stored value as people read it: no trailing zeros, dates in ISO, "—" for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        whole, _, decimals = text.partition(".")
        return f"{whole}.{decimals.ljust(2, '0')}"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _label(f: models.Field) -> str:
    text = str(f.verbose_name)
    return text[:1].upper() + text[1:]


def _display(f: models.Field, value: object, record) -> str:
    """``value`` of field ``f`` as held by the historical ``record``; a foreign key by name."""
    if f.is_relation and value is not None:
        try:
            return str(getattr(record, f.name))  # the record's own reference, by its name
        except ObjectDoesNotExist:
            return f"{value} (deleted)"
    if f.choices and value is not None:
        return str(dict(f.flatchoices).get(value, value))
    return format_value(value)
