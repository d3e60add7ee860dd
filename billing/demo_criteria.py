"""The demo's criteria group: "VIP Customers" keeps itself right from rated usage.

The product documents describe VIP as "monthly revenue above 500,000 CZK"; the demo's prices are
small, so the threshold is scaled down 100 times (5,000 CZK of rated retail usage over the
previous calendar month). The demo usage history gives every current VIP customer, End Customer
Ltd first, enough retail minutes last month to qualify, and Tech Corp some usage that does not.
Safe to run twice: the criteria are created once, last month's usage once per customer.
"""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from groups.criteria import refresh
from groups.criteria.models import GroupCriteria
from groups.criteria.services import criteria_save
from groups.models import Customer, CustomerGroup, Membership
from pricing import engine
from pricing.clock import billing_today, billing_tz
from pricing.models import UsageRecord
from pricing.services import usage_records_create

VIP_THRESHOLD = "5000"  # 500,000 CZK scaled to the demo's prices
VIP_CONDITION = {
    "kind": "usage",
    "measure": "amount",
    "currency": "CZK",
    "category": "retail",
    "item": "",
    "window": "previous_month",
    "op": "gt",
    "threshold": VIP_THRESHOLD,
}
# Minutes of retail usage last month: VIP minutes cost 0.60 CZK, standard ones 1.20 CZK.
VIP_MINUTES = 10_000  # 6,000 CZK at the VIP price: qualifies
TECH_CORP_MINUTES = 2_000  # 2,400 CZK: does not
DAYS_OF_USAGE = 10


def _last_month_usage(customer: Customer, minutes: int, start, end) -> int:
    """Rated retail minutes spread over ``DAYS_OF_USAGE`` days of last month, once."""
    if UsageRecord.objects.filter(
        customer=customer, occurred_at__gte=start, occurred_at__lt=end, billing_category="retail"
    ).exists():
        return 0
    step = (end - start) / DAYS_OF_USAGE
    records = [
        {
            "customer": customer,
            "billing_category": "retail",
            "item_code": "minute",
            "quantity": Decimal(minutes // DAYS_OF_USAGE),
            "occurred_at": start + step * day + timedelta(hours=10),
        }
        for day in range(DAYS_OF_USAGE)
    ]
    return len(usage_records_create(records=records))


@transaction.atomic
def seed_vip_criteria() -> dict[str, int]:
    """Make "VIP Customers" a criteria group with the usage history that supports it."""
    created: dict[str, int] = {}
    vip = CustomerGroup.objects.filter(code="vip").first()
    if vip is None:
        return created
    today = billing_today()
    start, end = engine.month_window(today.replace(day=1) - timedelta(days=1), billing_tz())
    members = Customer.objects.filter(
        pk__in=Membership.objects.current().filter(group=vip).values("customer_id")
    )
    records = 0
    for customer in members.order_by("name"):
        records += _last_month_usage(customer, VIP_MINUTES, start, end)
    tech_corp = Customer.objects.filter(external_id="CUST-0002").first()
    if tech_corp is not None:
        records += _last_month_usage(tech_corp, TECH_CORP_MINUTES, start, end)
    if records:
        created["usage records"] = records
    criteria = GroupCriteria.objects.filter(group=vip).first()
    if criteria is None:
        criteria = criteria_save(
            group=vip, conditions=[VIP_CONDITION], enabled=True, minimum_stay_days=30
        )
        created["criteria groups"] = 1
    result = refresh.refresh(criteria)
    if result.get("joined") or result.get("left"):
        created["criteria joins and leaves"] = result["joined"] + result["left"]
    return created
