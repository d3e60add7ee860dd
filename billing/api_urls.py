"""The JSON REST API under /api/v1/ (paths work with and without a trailing slash)."""

urlpatterns: list = []
