"""Pages for rules."""

urlpatterns: list = []
