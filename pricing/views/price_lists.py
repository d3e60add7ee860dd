"""Pages for price lists."""

urlpatterns: list = []
