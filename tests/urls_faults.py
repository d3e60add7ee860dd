"""URLs for fault tests only: views that fail the way a lost database connection does."""

from django.db import OperationalError
from django.urls import include, path


def lost_connection(request):
    raise OperationalError("server closed the connection unexpectedly")


def bad_query(request):
    raise OperationalError("no such column: nope")


urlpatterns = [
    path("page/", lost_connection),
    path("api/v1/fault", lost_connection),
    path("bad-query/", bad_query),
    path("", include("billing.urls")),
]
