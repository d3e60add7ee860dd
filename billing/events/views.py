"""``/webhooks/``: pricing managers register endpoints, read each one's delivery log and send
a test event. Thin views: every write is a service in ``billing.events.services``."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from billing.events import services
from billing.events.forms import EndpointForm
from billing.events.models import DeliveryState, Endpoint
from billing.events.types import EVENT_TYPES

CAN_VIEW = "billing.view_endpoint"
CAN_ADD = "billing.add_endpoint"
CAN_CHANGE = "billing.change_endpoint"
CAN_DELETE = "billing.delete_endpoint"
LOG_PAGE_SIZE = 25


def _wants_fragment(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """Endpoints with their delivery counts (one grouped query)."""
    endpoints = Endpoint.objects.annotate(
        delivered=Count("deliveries", filter=Q(deliveries__state=DeliveryState.SUCCEEDED)),
        pending=Count("deliveries", filter=Q(deliveries__state=DeliveryState.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__state=DeliveryState.FAILED)),
    ).order_by("url", "pk")
    return render(
        request, "billing/webhooks/list.html", {"endpoints": endpoints, "types": EVENT_TYPES}
    )


def _save(request: HttpRequest, form: EndpointForm, endpoint: Endpoint | None):
    data = form.cleaned_data
    try:
        if endpoint is None:
            return services.endpoint_create(
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                by=request.user,
            )
        return services.endpoint_update(
            endpoint=endpoint,
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            is_active=data["is_active"],
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


def _form_page(request: HttpRequest, endpoint: Endpoint | None) -> HttpResponse:
    if request.method == "POST":
        form = EndpointForm(request.POST)
        saved = _save(request, form, endpoint) if form.is_valid() else None
        if saved is not None:
            messages.success(request, f"Saved the endpoint {saved.url}.")
            url = reverse("billing:webhook_detail", args=[saved.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        status = 422
    else:
        initial = (
            {
                "url": endpoint.url,
                "description": endpoint.description,
                "event_types": endpoint.event_types,
                "is_active": endpoint.is_active,
            }
            if endpoint is not None
            else None
        )
        form = EndpointForm(initial=initial)
        status = 200
    context = {
        "form": form,
        "endpoint": endpoint,
        "action": request.path,
        "cancel_url": reverse("billing:webhook_detail", args=[endpoint.pk])
        if endpoint
        else reverse("billing:webhook_list"),
    }
    template = "billing/webhooks/form.html"
    name = f"{template}#form" if _wants_fragment(request) else template
    return render(request, name, context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(CAN_ADD, raise_exception=True)
def endpoint_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@require_http_methods(["GET", "POST"])
@permission_required(CAN_CHANGE, raise_exception=True)
def endpoint_edit(request: HttpRequest, pk) -> HttpResponse:
    return _form_page(request, get_object_or_404(Endpoint, pk=pk))


@require_GET
@permission_required(CAN_VIEW, raise_exception=True)
def endpoint_detail(request: HttpRequest, pk) -> HttpResponse:
    """An endpoint: its secret, its events, and the delivery log (newest first, paged)."""
    endpoint = get_object_or_404(Endpoint, pk=pk)
    deliveries = endpoint.deliveries.select_related("event").order_by("-created_at", "-pk")
    page = Paginator(deliveries, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"endpoint": endpoint, "page_obj": page, "types": dict(EVENT_TYPES)}
    if _wants_fragment(request):
        return render(request, "billing/webhooks/detail.html#log", context)
    return render(request, "billing/webhooks/detail.html", context)


@require_POST
@permission_required(CAN_CHANGE, raise_exception=True)
def endpoint_test(request: HttpRequest, pk) -> HttpResponse:
    """Send a test event to this endpoint only; its delivery shows in the log."""
    endpoint = get_object_or_404(Endpoint, pk=pk)
    services.endpoint_send_test(endpoint=endpoint, by=request.user)
    messages.info(request, "A test event is on its way; its delivery shows below.")
    url = reverse("billing:webhook_detail", args=[endpoint.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_http_methods(["GET", "POST"])
@permission_required(CAN_DELETE, raise_exception=True)
def endpoint_delete(request: HttpRequest, pk) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint, pk=pk)
    if request.method == "POST":
        services.endpoint_delete(endpoint=endpoint)
        messages.success(request, f"Deleted the endpoint {endpoint.url} and its delivery log.")
        url = reverse("billing:webhook_list")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return render(
        request,
        "pricing/confirm.html",
        {
            "title": f"Delete the endpoint {endpoint.url}?",
            "text": "It will receive no more events, and its delivery log is deleted.",
            "button": "Delete endpoint",
            "danger": True,
            "action": request.path,
            "cancel_url": reverse("billing:webhook_detail", args=[endpoint.pk]),
            "breadcrumbs": [("Webhooks", reverse("billing:webhook_list"))],
            "parent": (str(endpoint), reverse("billing:webhook_detail", args=[endpoint.pk])),
        },
    )


app_name = "billing"
urlpatterns = [
    path("webhooks/", endpoint_list, name="webhook_list"),
    path("webhooks/new/", endpoint_create, name="webhook_create"),
    path("webhooks/<uuid:pk>/", endpoint_detail, name="webhook_detail"),
    path("webhooks/<uuid:pk>/edit/", endpoint_edit, name="webhook_edit"),
    path("webhooks/<uuid:pk>/test/", endpoint_test, name="webhook_test"),
    path("webhooks/<uuid:pk>/delete/", endpoint_delete, name="webhook_delete"),
]
