"""Pages for simulate."""

urlpatterns: list = []
