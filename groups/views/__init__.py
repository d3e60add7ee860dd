"""Group and customer pages: one module per area, wired in ``groups/urls.py``."""
