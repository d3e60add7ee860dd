"""A changeset's proposed state as the engine's inputs: today's rule book with it applied.

Nothing here decides a price: rules are the engine's :class:`pricing.engine.Rule`, loaded by
:func:`pricing.selectors.engine_rules`; price lists are :class:`pricing.engine.ListSpec` whose
prices :func:`pricing.engine.resolve_lists` derives. The changeset only replaces some of those
inputs in memory (a rule's terms, a list's items or derivation), so the impact preview
(:func:`pricing.impact.impact_between`) and the audit's findings
(:mod:`pricing.engine.findings`) judge the proposal exactly as rating would once published.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from groups.models import Customer, CustomerGroup, Membership
from pricing import engine
from pricing.clock import billing_today
from pricing.engine import findings
from pricing.models import (
    ChangeAction,
    ChangeKind,
    Changeset,
    PriceList,
    PricingRule,
    item_price,
)
from pricing.selectors import engine_rules, list_prices

FINDING_LABELS = {
    "tie": "Tie: same category and priority, reaching one customer",
    "shadowed": "Shadowed by a rule for everyone",
    "hidden": "A customer rule hides a group rule",
    "never": "Never applies (ended, empty group or inactive customer)",
}


@dataclass
class Proposal:
    """The rules of the categories a changeset touches, before and after it."""

    categories: list[str]
    before: list[engine.Rule]
    after: list[engine.Rule]
    labels: dict = field(default_factory=dict)  # rule id -> code, for findings


def _chain(pk, specs: dict) -> list:
    seen = []
    while pk is not None and pk in specs and pk not in seen:
        seen.append(pk)
        pk = specs[pk]["base"]
    return seen


def _spec_rows() -> dict:
    return {
        pk: {
            "code": code,
            "currency": currency,
            "base": base,
            "factor": factor,
            "surcharge": surcharge,
            "rounding": rounding,
        }
        for pk, code, currency, base, factor, surcharge, rounding in PriceList.objects.values_list(
            "pk", "code", "currency", "base_price_list_id", "factor", "surcharge", "rounding"
        )
    }


def _items_of(snapshot: dict) -> dict:
    return {
        item["item_code"]: item_price(
            mode=item.get("pricing_mode") or "per_unit",
            unit_price=Decimal(item["unit_price"]),
            tiers=item.get("tiers") or (),
            package_size=_dec(item.get("package_size")),
            first_increment=_dec(item.get("first_increment")),
            next_increment=_dec(item.get("next_increment")),
            minimum_charge=_dec(item.get("minimum_charge")),
        )
        for item in snapshot.get("items") or []
    }


def _dec(value):
    return None if value in (None, "") else Decimal(str(value))


def _uuid(value):
    import uuid

    return uuid.UUID(str(value)) if value else None


def proposal(changeset: Changeset) -> Proposal:
    """Today's rules of the touched categories, and the same with the changeset applied."""
    changes = list(changeset.changes.all())
    rule_changes = {
        c.target_id: c
        for c in changes
        if c.kind == ChangeKind.RULE and c.target_id and c.action != ChangeAction.CREATE
    }
    created = [c for c in changes if c.kind == ChangeKind.RULE and c.action == ChangeAction.CREATE]
    list_changes = {
        c.target_id: c
        for c in changes
        if c.kind == ChangeKind.PRICE_LIST and c.target_id and c.action != ChangeAction.CREATE
    }
    specs = _spec_rows()
    for pk, change in list_changes.items():
        if change.action == ChangeAction.DELETE or pk not in specs:
            continue
        after = change.after
        specs[pk] = {
            "code": after["code"],
            "currency": after["currency"],
            "base": _uuid(after.get("base_price_list")),
            "factor": Decimal(after.get("factor") or 1),
            "surcharge": Decimal(after.get("surcharge") or 0),
            "rounding": int(after.get("rounding") if after.get("rounding") is not None else 2),
        }
    touched_lists = {pk for pk in specs if set(_chain(pk, specs)) & set(list_changes)}
    categories = {
        snap["billing_category"]
        for c in changes
        if c.kind == ChangeKind.RULE
        for snap in (c.before, c.after)
        if snap
    }
    categories |= set(
        PricingRule.objects.filter(price_list_id__in=touched_lists)
        .values_list("billing_category", flat=True)
        .distinct()
    )
    before = engine_rules(categories=sorted(categories)) if categories else []
    after_rules: list[engine.Rule] = []
    snapshots_after: dict = {}
    for rule in before:
        change = rule_changes.get(rule.id)
        if change is not None and change.action == ChangeAction.DELETE:
            continue
        after_rules.append(rule)
        if change is not None:
            snapshots_after[rule.id] = change.after
    for change in created:
        snapshots_after[f"new:{change.pk}"] = change.after

    needed = {rule.price_list_id for rule in after_rules}
    needed |= {_uuid(snap["price_list"]) for snap in snapshots_after.values()}
    with_bases = {pk for list_id in needed for pk in _chain(list_id, specs)}
    own = list_prices(with_bases, derived=False) if with_bases else {}
    for pk, change in list_changes.items():
        if change.action != ChangeAction.DELETE and pk in with_bases:
            own[pk] = _items_of(change.after)
    resolved = engine.resolve_lists(
        {
            pk: engine.ListSpec(
                code=specs[pk]["code"],
                items=own.get(pk, {}),
                base_id=specs[pk]["base"] if specs[pk]["base"] in with_bases else None,
                factor=specs[pk]["factor"],
                surcharge=specs[pk]["surcharge"],
                rounding=specs[pk]["rounding"],
            )
            for pk in with_bases
        }
    )
    names = _names(snapshots_after.values())
    result = []
    for rule in after_rules:
        snap = snapshots_after.get(rule.id)
        if snap is not None:
            rule = _from_snapshot(rule.id, snap, specs, resolved, names)
        elif rule.price_list_id in touched_lists:
            rule = replace(
                rule,
                prices=resolved.get(rule.price_list_id, {}),
                currency=specs[rule.price_list_id]["currency"],
                price_list_code=specs[rule.price_list_id]["code"],
            )
        result.append(rule)
    for change in created:
        rule_id = f"new:{change.pk}"
        result.append(_from_snapshot(rule_id, change.after, specs, resolved, names))
    labels = {rule.id: rule.code for rule in (*before, *result)}
    return Proposal(sorted(categories), before, result, labels)


def _names(snaps) -> dict:
    groups = {s["group"] for s in snaps if s.get("group")}
    customers = {s["customer"] for s in snaps if s.get("customer")}
    names = {}
    if groups:
        names.update(
            {
                str(pk): n
                for pk, n in CustomerGroup.all_objects.filter(pk__in=groups).values_list(
                    "pk", "name"
                )
            }
        )
    if customers:
        names.update(
            {
                str(pk): n
                for pk, n in Customer.all_objects.filter(pk__in=customers).values_list("pk", "name")
            }
        )
    return names


def _from_snapshot(rule_id, snap: dict, specs: dict, resolved: dict, names: dict) -> engine.Rule:
    list_id = _uuid(snap["price_list"])
    spec = specs.get(list_id, {"code": "?", "currency": ""})
    return engine.Rule(
        id=rule_id,
        code=snap["code"],
        name=snap["name"],
        billing_category=snap["billing_category"],
        priority=int(snap["priority"]),
        valid_from=date.fromisoformat(snap["valid_from"]),
        valid_to=date.fromisoformat(snap["valid_to"]) if snap.get("valid_to") else None,
        is_active=bool(snap["is_active"]),
        group_id=_uuid(snap.get("group")),
        customer_id=_uuid(snap.get("customer")),
        price_list_id=list_id,
        price_list_code=spec["code"],
        currency=spec["currency"],
        prices=resolved.get(list_id, {}),
        group_name=names.get(snap.get("group") or "", ""),
        customer_name=names.get(snap.get("customer") or "", ""),
    )


# --- The audit's findings the changeset would introduce ------------------------------------


@dataclass(frozen=True)
class Finding:
    kind: str
    label: str
    rules: tuple[str, ...]


def _audited(rule: engine.Rule) -> findings.AuditedRule:
    return findings.AuditedRule(
        id=rule.id,
        billing_category=rule.billing_category,
        priority=rule.priority,
        valid_from=rule.valid_from,
        valid_to=rule.valid_to,
        is_active=rule.is_active,
        price_list_id=rule.price_list_id,
        items=frozenset(rule.prices),
        group_id=rule.group_id,
        customer_id=rule.customer_id,
    )


def _world(rules, today: date) -> findings.World:
    group_ids = {r.group_id for r in rules if r.group_id is not None}
    customer_ids = {r.customer_id for r in rules if r.customer_id is not None}
    members: dict = {}
    for group_id, customer_id in (
        Membership.objects.current()
        .filter(group_id__in=group_ids)
        .values_list("group_id", "customer_id")
    ):
        members.setdefault(group_id, set()).add(customer_id)
    active = frozenset(
        Customer.objects.filter(pk__in=customer_ids, is_active=True).values_list("pk", flat=True)
    )
    return findings.World(
        today=today,
        members={k: frozenset(v) for k, v in members.items()},
        active_customers=active,
    )


def introduced_findings(prop: Proposal, today: date | None = None) -> list[Finding]:
    """Findings of the proposed rules that today's rules do not have."""
    today = today or billing_today()
    world = _world([*prop.before, *prop.after], today)
    before = [_audited(r) for r in prop.before]
    after = [_audited(r) for r in prop.after]
    found = []
    for kind, pairs_of in findings.PAIRS.items():
        old = pairs_of(before, world)
        new = pairs_of(after, world)
        seen = set()
        for a, b in sorted(new - old, key=str):
            key = frozenset((a, b)) if kind == "tie" else (a, b)
            if key in seen:
                continue
            seen.add(key)
            found.append(
                Finding(
                    kind, FINDING_LABELS[kind], (prop.labels.get(a, "?"), prop.labels.get(b, "?"))
                )
            )
    for rule_id in sorted(
        findings.never_applies(after, world) - findings.never_applies(before, world), key=str
    ):
        found.append(Finding("never", FINDING_LABELS["never"], (prop.labels.get(rule_id, "?"),)))
    return found
