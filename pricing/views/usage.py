"""Pages for usage."""

urlpatterns: list = []
