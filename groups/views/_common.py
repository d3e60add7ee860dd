"""Small helpers shared by the group and customer views."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from groups import services
from groups.models import Customer, CustomerGroup

# --- One membership, from either side (a group's members, a customer's groups) ----------------


def add_membership(request: HttpRequest, *, group: CustomerGroup, customer: Customer) -> None:
    """Open the membership (or keep the open one) and say which it was."""
    _, created = services.membership_add(group=group, customer=customer, by=request.user)
    if created:
        messages.success(request, f"Added “{customer.name}” to “{group.name}”.")
    else:
        messages.info(request, f"“{customer.name}” is already a member of “{group.name}”.")


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
