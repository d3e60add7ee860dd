"""Signal receivers that write the outbox: each domain change becomes events in its own
transaction, with payloads shaped as the API shows the objects."""

from django.conf import settings
from django.dispatch import receiver

from billing.events import services, types
from billing.events.services import Draft
from groups.api import GroupRefSerializer, MembershipSerializer
from groups.models import CustomerGroup, Membership
from groups.signals import membership_changed
from pricing.api import PriceListSerializer, PricingRuleSerializer, UsageRecordSerializer
from pricing.signals import (
    changeset_published,
    price_list_changed,
    rule_changed,
    usage_batch_rated,
    usage_unrated,
)


@receiver(membership_changed, dispatch_uid="billing.events.membership_changed")
def on_membership_changed(sender, *, change, group_id, customer_ids, at, **kwargs) -> None:
    event_type = types.MEMBERSHIP_JOINED if change == "joined" else types.MEMBERSHIP_LEFT
    endpoints = services.subscribers(event_type)
    if not endpoints:
        return
    group = CustomerGroup.objects.get(pk=group_id)
    moment = {"joined_at": at} if change == "joined" else {"left_at": at}
    memberships = (
        Membership.objects.filter(group_id=group_id, customer_id__in=customer_ids, **moment)
        .select_related("customer", "joined_by", "left_by")
        .order_by("customer__name", "pk")
    )
    group_data = GroupRefSerializer(group).data
    drafts = [
        Draft(
            event_type,
            {"group": group_data, **MembershipSerializer(membership).data},
            key=f"{event_type}:{membership.pk}",
        )
        for membership in memberships
    ]
    services.events_record(drafts, endpoints=endpoints)


@receiver(rule_changed, dispatch_uid="billing.events.rule_changed")
def on_rule_changed(sender, *, rule, action, **kwargs) -> None:
    endpoints = services.subscribers(types.RULE_CHANGED)
    if endpoints:
        data = {"action": action, "rule": PricingRuleSerializer(rule).data}
        services.events_record([Draft(types.RULE_CHANGED, data)], endpoints=endpoints)


@receiver(price_list_changed, dispatch_uid="billing.events.price_list_changed")
def on_price_list_changed(sender, *, price_list, action, **kwargs) -> None:
    endpoints = services.subscribers(types.PRICE_LIST_CHANGED)
    if endpoints:
        data = {"action": action, "price_list": PriceListSerializer(price_list).data}
        services.events_record([Draft(types.PRICE_LIST_CHANGED, data)], endpoints=endpoints)


@receiver(usage_batch_rated, dispatch_uid="billing.events.usage_batch_rated")
def on_usage_batch_rated(sender, *, upload, **kwargs) -> None:
    endpoints = services.subscribers(types.USAGE_BATCH_RATED)
    if not endpoints:
        return
    data = {
        "upload": {
            "id": str(upload.pk),
            "batch_key": upload.batch_key,
            "file_name": upload.file_name,
            "uploaded_at": upload.uploaded_at,
            "uploaded_by": upload.uploaded_by.get_username() if upload.uploaded_by else None,
        },
        "records": upload.rows,
        "rated": upload.rated,
        "unrated": upload.unrated,
    }
    draft = Draft(types.USAGE_BATCH_RATED, data, key=f"{types.USAGE_BATCH_RATED}:{upload.pk}")
    services.events_record([draft], endpoints=endpoints)


@receiver(usage_unrated, dispatch_uid="billing.events.usage_unrated")
def on_usage_unrated(sender, *, records, **kwargs) -> None:
    endpoints = services.subscribers(types.USAGE_UNRATED)
    if not endpoints:
        return
    limit = settings.RATECARD_WEBHOOK_UNRATED_MAX
    if hasattr(records, "select_related"):
        records = records.select_related("customer")[:limit]
    drafts = [
        Draft(
            types.USAGE_UNRATED,
            {"usage_record": UsageRecordSerializer(record).data},
            key=f"{types.USAGE_UNRATED}:{record.pk}",
        )
        for record in list(records)[:limit]
    ]
    services.events_record(drafts, endpoints=endpoints)


@receiver(changeset_published, dispatch_uid="billing.events.changeset_published")
def on_changeset_published(sender, *, changeset, **kwargs) -> None:
    endpoints = services.subscribers(types.CHANGESET_PUBLISHED)
    if not endpoints:
        return
    from pricing.api_changesets import ChangesetSerializer

    data = {
        "changeset": ChangesetSerializer(changeset).data,
        "changes": [
            {
                "kind": change.kind,
                "action": change.action,
                "target_id": str(change.target_id) if change.target_id else None,
                "label": change.label,
            }
            for change in changeset.changes.order_by("pk")
        ],
    }
    key = f"{types.CHANGESET_PUBLISHED}:{changeset.pk}"
    services.events_record([Draft(types.CHANGESET_PUBLISHED, data, key=key)], endpoints=endpoints)
