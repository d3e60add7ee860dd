"""Small helpers shared by the group and customer views."""

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from groups import services
from groups.criteria.services import manual_add_warning
from groups.models import Customer, CustomerGroup

# --- One membership, from either side (a group's members, a customer's groups) ----------------


def add_membership(
    request: HttpRequest,
    *,
    group: CustomerGroup,
    customer: Customer,
    joined_at: datetime | None = None,
) -> None:
    """Open the membership (or keep the open one, or move its start back) and say which.

    A refusal (a start in the future, a period overlapping an earlier one) raises the service's
    ``ValidationError`` for the caller to show beside the form's field.
    """
    membership, created = services.membership_add(
        group=group, customer=customer, by=request.user, joined_at=joined_at
    )
    since = timezone.localtime(membership.joined_at).strftime("%Y-%m-%d %H:%M")
    if created and membership.is_backdated:
        messages.success(
            request, f"Added “{customer.name}” to “{group.name}”, member since {since} (backdated)."
        )
    elif created:
        messages.success(request, f"Added “{customer.name}” to “{group.name}”.")
    elif joined_at is not None and membership.joined_at == joined_at:
        messages.success(
            request,
            f"“{customer.name}” is now a member of “{group.name}” since {since} (backdated).",
        )
    else:
        messages.info(
            request, f"“{customer.name}” is already a member of “{group.name}” (since {since})."
        )
        return
    if warning := manual_add_warning(group, [customer.pk]):
        messages.warning(request, warning)


def confirm_or_remove_membership(
    request: HttpRequest, *, group: CustomerGroup, customer: Customer, cancel_url: str
) -> HttpResponse | None:
    """GET: the confirmation page (the no-JS path). POST: end the membership, then None.

    A membership that is no longer open is not an error worth a page: the warning says so and
    the caller shows the list as it is.
    """
    if request.method == "GET":
        context = {
            "question": f"Remove “{customer.name}” from “{group.name}”?",
            "explanation": "The membership ends now; the history keeps it. You can undo.",
            "action_url": request.path,
            "cancel_url": cancel_url,
        }
        return render(request, "groups/membership_remove_confirm.html", context)
    try:
        services.membership_remove(group=group, customer=customer, by=request.user)
    except ValidationError as exc:
        messages.warning(request, " ".join(exc.messages))
    return None
