"""Reads for the changeset pages and API, joined for their pages (no query per row)."""

from django.db.models import Count, Prefetch, QuerySet

from pricing.models import Changeset, ChangesetEvent, ChangesetState


def changesets_list(*, state: str = "") -> QuerySet[Changeset]:
    """Changesets newest first, with their author, reviewer and number of changes."""
    queryset = Changeset.objects.select_related("author", "reviewed_by", "published_by").annotate(
        change_count=Count("changes")
    )
    if state in ChangesetState.values:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-created_at", "pk")


def changeset_detail() -> QuerySet[Changeset]:
    """One changeset with its changes, its events and the people named on it."""
    return Changeset.objects.select_related(
        "author",
        "reviewed_by",
        "published_by",
        "scheduled_by",
        "rollback_of",
        "impact_work",
        "publish_work",
    ).prefetch_related(
        "changes",
        Prefetch("events", queryset=ChangesetEvent.objects.select_related("by")),
    )
