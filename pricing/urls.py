"""Pricing pages: price lists and rules under /pricing/, then /audit/, /simulate/, /usage/."""

from pricing.views import (
    audit,
    changesets,
    item_prices,
    price_list_csv,
    price_lists,
    rules,
    simulate,
    usage,
)

app_name = "pricing"

urlpatterns = [
    *price_lists.urlpatterns,
    *item_prices.urlpatterns,
    *price_list_csv.urlpatterns,
    *rules.urlpatterns,
    *audit.urlpatterns,
    *simulate.urlpatterns,
    *usage.urlpatterns,
    *changesets.urlpatterns,
]
