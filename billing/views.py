"""Base views: the dashboard, sign-in pages and error pages."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET

from background.selectors import work_status
from groups.models import Customer, CustomerGroup, Membership
from pricing import batch, selectors_work
from pricing.clock import billing_today
from pricing.models import PriceList, PricingRule

PASSWORD_CHANGED = "Your password was changed. Other browsers signed in as you are signed out."


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Landing page: the size of the configuration and where to go next."""
    today = billing_today()
    counts = {
        "groups": CustomerGroup.objects.count(),
        "customers": Customer.objects.count(),
        "memberships": Membership.objects.current().count(),
        "price_lists": PriceList.objects.count(),
        "active_rules": PricingRule.objects.active_on(today).count(),
        "rules": PricingRule.objects.exists(),
        "pending_usage": batch.pending_count(),
    }
    rating = None
    if request.user.has_perm("pricing.add_usagerecord"):
        work = selectors_work.backlog_rating()
        rating = work_status(work) if work is not None else None
    context = {"counts": counts, "today": today, "rating": rating}
    return render(request, "billing/dashboard.html", context)


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    """Any signed-in user changes their own password (the old one first); they stay signed in."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, PASSWORD_CHANGED)
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A readable page (or fragment) when a form was sent without a valid CSRF token."""
    return render(request, "403_csrf.html", {"reason": reason}, status=403)
