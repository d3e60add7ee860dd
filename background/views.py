"""``/work/``: the "Background work" page (pricing managers) and one piece of work's status.

The status view serves the shared partial every page polls while its work runs
(``background/_work.html``): htmx swaps it every second until the work is finished, and the
last answer sends a ``work-finished`` event so the page can refresh what the work changed.
"""

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from background import selectors
from background.models import WorkState

PAGE_SIZE = 50
# Everyone who works in Ratecard (both roles) may follow a piece of work they see on a page.
CAN_FOLLOW = ("pricing.view_usagerecord", "groups.view_customer")


def _wants_fragment(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request and not htmx.boosted


@require_GET
@permission_required("background.view_work", raise_exception=True)
def work_list(request: HttpRequest) -> HttpResponse:
    """Recent background work: state, progress, duration, who started it, its error."""
    state = request.GET.get("state", "")
    page = Paginator(selectors.recent_work(state=state), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page_obj": page,
        "items": [selectors.work_status(work) for work in page.object_list],
        "state": state,
        "states": WorkState.choices,
    }
    if _wants_fragment(request):
        return render(request, "background/list.html#work_table", context)
    return render(request, "background/list.html", context)


@require_GET
def work_detail(request: HttpRequest, pk) -> HttpResponse:
    """One piece of work: its page, or (htmx) the status partial that polls itself."""
    user = request.user
    if not (user.has_perm("background.view_work") or any(map(user.has_perm, CAN_FOLLOW))):
        raise PermissionDenied
    work = selectors.work_get(pk)
    if work is None:
        raise Http404("No background work has this id.")
    status = selectors.work_status(work)
    if _wants_fragment(request):
        response = render(request, "background/_work.html", {"status": status})
        if status.finished:
            trigger_client_event(response, "work-finished", {"id": str(work.pk)})
        return response
    return render(request, "background/detail.html", {"status": status})


app_name = "background"
urlpatterns = [
    path("work/", work_list, name="work_list"),
    path("work/<uuid:pk>/", work_detail, name="work_detail"),
]
