"""The criteria of a group: all conditions must hold, with overrides and a minimum stay."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class GroupCriteriaQuerySet(models.QuerySet):
    def enabled(self) -> "GroupCriteriaQuerySet":
        """Criteria that decide their group's members (of groups not archived)."""
        return self.filter(enabled=True, group__archived_at__isnull=True)


class GroupCriteria(models.Model):
    """What makes a customer a member of ``group``; ``version`` counts every saved change.

    ``conditions`` is a list of JSON objects, each checked by its kind
    (:func:`groups.criteria.conditions.validate_conditions`) before it is stored. Every save
    counts a version and simple-history keeps the conditions of each, so a membership that
    records "joined by criteria v3" can be explained later.
    """

    group = models.OneToOneField(
        "groups.CustomerGroup", on_delete=models.CASCADE, related_name="criteria"
    )
    enabled = models.BooleanField(
        "criteria decide the members",
        default=False,
        help_text="Off: the criteria are kept but members are managed by hand.",
    )
    conditions = models.JSONField(default=list, blank=True)
    always_include = models.ManyToManyField(
        "groups.Customer", blank=True, related_name="+", verbose_name="always include"
    )
    never_include = models.ManyToManyField(
        "groups.Customer", blank=True, related_name="+", verbose_name="never include"
    )
    minimum_stay_days = models.PositiveIntegerField(
        "minimum stay (days)",
        default=0,
        help_text="A member who stops qualifying stays until this many days after joining.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_refresh = models.JSONField(default=dict, blank=True, editable=False)

    objects = GroupCriteriaQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["last_refreshed_at", "last_refresh", "updated_at"])

    class Meta:
        verbose_name = "group criteria"
        verbose_name_plural = "group criteria"
        constraints = [
            models.CheckConstraint(
                condition=Q(minimum_stay_days__lte=3650),
                name="groups_criteria_minimum_stay_at_most_10_years",
                violation_error_message="Keep the minimum stay to at most 3650 days.",
            ),
        ]

    def __str__(self) -> str:
        return f"criteria of {self.group} (v{self.version})"

    @property
    def label(self) -> str:
        return f"criteria v{self.version}"
