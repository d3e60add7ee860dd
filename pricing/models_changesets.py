"""Changesets: named bundles of pending changes to rules and price lists.

Nothing in a changeset affects rating until it is published; publishing applies every change
through the ordinary services (:mod:`pricing.changesets.services`) in one transaction. A change
remembers the version of the object it was drafted from (``base_version``) and a snapshot of
the object then (``before``), so publishing can refuse a changeset whose base moved, the page
can show old and new field by field, and a rollback knows what to restore.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from groups.validation import DESCRIPTION_MAX_LENGTH, validate_visible_text


class ChangesetState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for review"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ChangesetQuerySet(models.QuerySet):
    def open(self) -> "ChangesetQuerySet":
        """Changesets that may still be edited or published."""
        return self.exclude(state__in=[ChangesetState.PUBLISHED, ChangesetState.WITHDRAWN])

    def due(self, now) -> "ChangesetQuerySet":
        """Scheduled changesets whose instant has come."""
        return self.filter(state=ChangesetState.SCHEDULED, scheduled_for__lte=now)


class Changeset(models.Model):
    """A named bundle of pending changes, with its review and publication."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200, validators=[validate_visible_text])
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    state = models.CharField(
        max_length=16, choices=ChangesetState.choices, default=ChangesetState.DRAFT
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    # Approved by its own author, a superuser, under RATECARD_APPROVAL_SUPERUSER_BYPASS.
    approval_bypassed = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rollback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rollbacks"
    )
    # The last impact gate run: the report, the findings introduced, the window (JSON).
    impact_report = models.JSONField(null=True, blank=True)
    impact_work = models.ForeignKey(
        "background.Work", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    publish_work = models.ForeignKey(
        "background.Work", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ChangesetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("approve_changeset", "Can approve or reject a changeset"),
            ("publish_changeset", "Can publish, schedule or roll back a changeset"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="scheduled") | Q(scheduled_for__isnull=False),
                name="pricing_changeset_scheduled_has_instant",
                violation_error_message="A scheduled changeset has a publication instant.",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def editable(self) -> bool:
        return self.state == ChangesetState.DRAFT


class ChangeKind(models.TextChoices):
    RULE = "rule", "Rule"
    PRICE_LIST = "price_list", "Price list"


class ChangeAction(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Edit"
    DELETE = "delete", "Delete"
    DISABLE = "disable", "Disable"
    ENABLE = "enable", "Enable"


class ChangesetChange(models.Model):
    """One pending change to one rule or price list (a price list's items travel with it)."""

    changeset = models.ForeignKey(Changeset, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    action = models.CharField(max_length=16, choices=ChangeAction.choices)
    # The object changed; for a creation, set when it is published (a rollback deletes it).
    target_id = models.UUIDField(null=True, blank=True)
    label = models.CharField(max_length=300)
    base_version = models.PositiveIntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["changeset", "kind", "target_id"],
                condition=Q(target_id__isnull=False),
                name="pricing_changesetchange_one_per_object",
                violation_error_message="This changeset already changes that object.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.get_kind_display().lower()} {self.label}"


class ChangesetEvent(models.Model):
    """What happened to a changeset, by whom and when: its review trail."""

    changeset = models.ForeignKey(Changeset, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=32)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"
