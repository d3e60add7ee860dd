"""Reads of pricing's background work (pricing/selectors.py belongs to the rating core)."""

from background.models import Work
from pricing.services import BACKLOG_KEY


def backlog_rating() -> Work | None:
    """The rating of the pending backlog under way, if any (its parent when split in parts)."""
    work = (
        Work.objects.active()
        .filter(dedupe_key__startswith=BACKLOG_KEY)
        .select_related("parent", "started_by", "parent__started_by")
        .order_by("created_at")
        .first()
    )
    if work is None:
        return None
    return work.parent or work
