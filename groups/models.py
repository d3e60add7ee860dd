"""Customers, customer groups and memberships with their history built in.

A membership row is one period: ``joined_at`` until ``left_at`` (open while ``left_at`` is
null). Removing a customer closes the row; adding it again opens a new one, so membership "as of"
any instant is a plain query. This app knows nothing of pricing: rules point at groups and
customers, never the other way round.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from groups.criteria.attributes import (
    COUNTRY_VALIDATOR,
    SEGMENT_VALIDATOR,
    validate_attributes,
)
from groups.validation import (
    DESCRIPTION_MAX_LENGTH,
    validate_description_length,
    validate_supported_day,
    validate_supported_instant,
    validate_visible_text,
)


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Versioned(models.Model):
    """A row that counts its saves: ``version`` goes up by one every time it is saved.

    Editors carry the version they loaded (a hidden field, the API's ETag); the services refuse
    a write made from an older one (:func:`groups.versions.check`). Counting here, like
    ``auto_now``, means every save counts, the admin's included; ``QuerySet.update()`` does not
    count, and is kept for what is no edit of the row's own fields (membership bookkeeping,
    reviews).
    """

    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            self.version = (self.version or 0) + 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        super().save(*args, **kwargs)


class Archivable(models.Model):
    """A row that is archived rather than deleted once it has history worth keeping.

    An archived row is hidden: ``objects`` leaves it out, so lists, search, pickers, the API and
    the audit never show it, while memberships, usage records and history still reach it through
    their foreign keys. ``all_objects`` (Django's default manager for these models, so
    validation and the admin count archived rows) sees every row.
    """

    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        abstract = True

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class LiveManager(models.Manager):
    """Rows not archived: what every page, list and lookup works with."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(archived_at__isnull=True)


class CustomerQuerySet(models.QuerySet):
    def search(self, term: str) -> "CustomerQuerySet":
        """Customers whose name, external ID or email contains ``term`` (any case)."""
        term = (term or "").strip()
        if not term:
            return self
        return self.filter(
            Q(name__icontains=term) | Q(external_id__icontains=term) | Q(email__icontains=term)
        )

    def active(self) -> "CustomerQuerySet":
        return self.filter(is_active=True)


class Customer(Archivable, TimeStampedModel):
    """Somebody the operator bills. ``external_id`` is the operator's own identifier."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, validators=[validate_visible_text])
    external_id = models.CharField(
        "external ID",
        max_length=100,
        null=True,
        blank=True,
        help_text="The operator's own identifier, used by integrations and imports.",
        validators=[validate_visible_text],
    )
    email = models.EmailField(blank=True)
    is_active = models.BooleanField("active", default=True)
    # Attributes criteria groups filter on (groups.criteria.attributes).
    # Database defaults too: rows written by code that predates these columns (older
    # migrations' models, raw inserts) still get a value.
    country = models.CharField(
        max_length=2,
        blank=True,
        default="",
        db_default="",
        validators=[COUNTRY_VALIDATOR],
        help_text="ISO code, e.g. CZ",
    )
    segment = models.CharField(
        "segment or plan",
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[SEGMENT_VALIDATOR],
    )
    signed_up_on = models.DateField(
        "signup date", null=True, blank=True, validators=[validate_supported_day]
    )
    attributes = models.JSONField(
        default=dict,
        db_default=Value({}, output_field=models.JSONField()),
        blank=True,
        validators=[validate_attributes],
        help_text="key=value pairs",
    )

    objects = LiveManager.from_queryset(CustomerQuerySet)()
    all_objects = CustomerQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name", "id"]
        # Validation, get_object_or_404 and the admin see archived rows too (``objects`` hides
        # them): uniqueness counts them, and history links still open.
        default_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="groups_customer_external_id_unique",
                violation_error_message="Another customer already has this external ID.",
            ),
            models.CheckConstraint(
                condition=~Q(external_id=""),
                name="groups_customer_external_id_not_blank",
                violation_error_message="An external ID cannot be blank; leave it empty instead.",
            ),
        ]
        indexes = [models.Index(fields=["name"], name="groups_customer_name_idx")]

    def __str__(self) -> str:
        return self.name

    def current_groups(self) -> models.QuerySet["CustomerGroup"]:
        return CustomerGroup.objects.filter(
            memberships__customer=self, memberships__left_at__isnull=True
        )


class CustomerGroupQuerySet(models.QuerySet):
    def with_member_count(self) -> "CustomerGroupQuerySet":
        """Annotate ``member_count`` (current members) with one correlated count per row.

        A subquery rather than a join + GROUP BY keeps the outer query free to sort, filter and
        paginate without aggregating every membership of every group first.
        """
        # COUNT(*) lets PostgreSQL answer from the open-membership index alone; COUNT(id)
        # would read every membership row of the group.
        counts = (
            Membership.objects.current()
            .filter(group=OuterRef("pk"))
            .order_by()
            .values("group")
            .annotate(n=Count("*"))
            .values("n")
        )
        return self.annotate(member_count=Coalesce(Subquery(counts), 0))

    def search(self, term: str) -> "CustomerGroupQuerySet":
        term = (term or "").strip()
        if not term:
            return self
        return self.filter(
            Q(name__icontains=term) | Q(description__icontains=term) | Q(code__icontains=term)
        )

    def empty(self) -> "CustomerGroupQuerySet":
        """Groups with no current member (NOT EXISTS: an index probe per group, not a scan)."""
        return self.filter(~Exists(_current_members_of_outer_group()))

    def non_empty(self) -> "CustomerGroupQuerySet":
        return self.filter(Exists(_current_members_of_outer_group()))


def _current_members_of_outer_group() -> models.QuerySet:
    return Membership.objects.current().filter(group=OuterRef("pk"))


class CustomerGroup(Archivable, Versioned, TimeStampedModel):
    """A named set of customers that pricing rules can target."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, validators=[validate_visible_text])
    code = models.SlugField(
        max_length=100,
        help_text="Short machine name that integrations tag customers with, e.g. vip.",
    )
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[validate_description_length]
    )
    expires_on = models.DateField(
        "planned expiry",
        null=True,
        blank=True,
        help_text="When a promotion group should end.",
        validators=[validate_supported_day],
    )
    reviewed_at = models.DateTimeField("last review", null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept by the membership services so "last membership change" needs no scan of history.
    members_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LiveManager.from_queryset(CustomerGroupQuerySet)()
    all_objects = CustomerGroupQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["members_changed_at", "updated_at"])

    class Meta:
        ordering = ["name"]
        verbose_name = "customer group"
        default_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="groups_customergroup_name_ci_unique",
                violation_error_message="A group with this name already exists.",
            ),
            models.UniqueConstraint(
                Lower("code"),
                name="groups_customergroup_code_ci_unique",
                violation_error_message="A group with this code already exists.",
            ),
        ]
        indexes = [
            # The latest membership change of any group: one probe for the rating inputs' stamp.
            models.Index(fields=["members_changed_at"], name="groups_group_mchanged_idx"),
        ]
        permissions = [("review_customergroup", "Can mark a group's membership as reviewed")]

    def __str__(self) -> str:
        return self.name

    @property
    def last_activity_at(self) -> datetime:
        """Last membership change, or creation for a group that never had one."""
        return self.members_changed_at or self.created_at


class MembershipQuerySet(models.QuerySet):
    def current(self) -> "MembershipQuerySet":
        return self.filter(left_at__isnull=True)

    def as_of(self, instant: datetime) -> "MembershipQuerySet":
        """Memberships in force at ``instant``: joined at or before it, not yet left."""
        return self.filter(held_at_q(instant))

    def during(self, start: datetime, end: datetime) -> "MembershipQuerySet":
        """Periods that hold some instant of the window ``[start, end)``.

        A period counts from ``joined_at`` (included) to ``left_at`` (excluded), as
        ``pricing.engine.counts_at`` has it (and a property test checks against it): it holds an
        instant of the window when it starts before the window ends, ends after the window
        starts, and is not empty (a period left the moment it began holds no instant).
        """
        if start >= end:
            return self.none()
        return self.filter(joined_at__lt=end).filter(
            Q(left_at__isnull=True) | (Q(left_at__gt=start) & Q(left_at__gt=F("joined_at")))
        )

    def overlapping(self, start: datetime, end: datetime | None) -> "MembershipQuerySet":
        """Periods that share an instant with ``[start, end)`` (``end`` None: open-ended)."""
        if end is None:
            return self.filter(Q(left_at__isnull=True) | Q(left_at__gt=F("joined_at"))).filter(
                Q(left_at__isnull=True) | Q(left_at__gt=start)
            )
        return self.during(start, end)

    def last_change_by_group(self) -> "MembershipQuerySet":
        return (
            self.order_by()
            .values("group")
            .annotate(last=Max(Coalesce("left_at", "joined_at")))
            .values("group", "last")
        )


def held_at_q(instant: datetime) -> Q:
    """A membership period holds ``instant``: joined at or before it, not left by then.

    ``pricing.engine.counts_at`` in ORM form (a property test checks the two agree); also a
    filter for counting members at several instants in one query.
    """
    return Q(joined_at__lte=instant) & (Q(left_at__isnull=True) | Q(left_at__gt=instant))


class Membership(models.Model):
    """One period of a customer's membership of a group (open while ``left_at`` is null)."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(default=timezone.now, validators=[validate_supported_instant])
    joined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    left_at = models.DateTimeField(null=True, blank=True, validators=[validate_supported_instant])
    left_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # A start recorded after the fact ("member since" last week): when and by whom. Empty for
    # a join recorded as it happened.
    backdated_at = models.DateTimeField(
        "start recorded at",
        null=True,
        blank=True,
        editable=False,
        help_text="Set when the start was entered as earlier than the moment it was recorded.",
    )
    backdated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    # Joins and leaves a criteria refresh or an expiry made: the version of the group's criteria
    # that decided (its history keeps the conditions of every version), or the expiry.
    joined_by_criteria_version = models.PositiveIntegerField(null=True, blank=True)
    left_by_criteria_version = models.PositiveIntegerField(null=True, blank=True)
    left_reason = models.CharField(
        max_length=10,
        blank=True,
        default="",
        db_default="",
        choices=[("criteria", "criteria"), ("expiry", "expiry")],
    )

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["-joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "customer"],
                condition=Q(left_at__isnull=True),
                name="groups_membership_one_open_per_group_customer",
                violation_error_message="This customer is already a member of this group.",
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=F("joined_at")),
                name="groups_membership_left_after_joined",
                violation_error_message="A membership cannot end before it starts.",
            ),
        ]
        indexes = [
            # "Which groups is this customer in now?" (and "customers in no group") read it.
            models.Index(
                fields=["customer"],
                condition=Q(left_at__isnull=True),
                name="groups_member_open_cust_idx",
            ),
            models.Index(fields=["customer", "joined_at"], name="groups_membership_cust_idx"),
            models.Index(fields=["group", "joined_at"], name="groups_membership_group_idx"),
            # A group's membership history, latest change (join or leave) first: read backwards
            # it gives a page of a 100,000-member group's history without sorting all of it.
            models.Index(
                F("group"),
                Coalesce("left_at", "joined_at"),
                F("id"),
                name="groups_membership_change_idx",
            ),
        ]

    def __str__(self) -> str:
        end = f" until {self.left_at:%Y-%m-%d %H:%M}" if self.left_at else ""
        return f"{self.customer} in {self.group} from {self.joined_at:%Y-%m-%d %H:%M}{end}"

    @property
    def is_current(self) -> bool:
        return self.left_at is None

    @property
    def is_backdated(self) -> bool:
        return self.backdated_at is not None


# Criteria groups' models live in their own package; importing them here registers them.
from groups.criteria.models import GroupCriteria  # noqa: E402, F401
