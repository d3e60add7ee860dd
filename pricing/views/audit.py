"""Pages for audit."""

urlpatterns: list = []
