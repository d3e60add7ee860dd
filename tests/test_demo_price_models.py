"""seed_demo's price models: a graduated data plan, 60/60 voice with a minimum charge, and
"Summer Promo 2026" derived from the standard list at 0.80; safe to run twice."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from pricing import engine
from pricing.models import PriceList, PriceListItem
from pricing.selectors import list_prices


@pytest.mark.django_db
def test_seed_demo_adds_price_models_once():
    call_command("seed_demo", stdout=StringIO())
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "Price models: already present, nothing changed." in again.getvalue()

    data = PriceListItem.objects.get(price_list__code="STD-RETAIL-2026", item_code="data")
    assert data.pricing_mode == "graduated"
    assert engine.charge(data.engine_price(), Decimal(50)).amount == Decimal("1050.00")
    voice = PriceListItem.objects.get(price_list__code="STD-RETAIL-2026", item_code="second")
    charged = engine.charge(voice.engine_price(), Decimal(61))
    assert (charged.billed_quantity, charged.amount) == (Decimal(120), Decimal("2.40"))
    assert engine.charge(voice.engine_price(), Decimal(5)).amount == Decimal("1.50")  # minimum

    summer = PriceList.objects.get(code="SUMMER-PROMO-2026")
    assert summer.name == "Summer Promo 2026"
    assert (summer.base_price_list.code, summer.factor) == ("STD-RETAIL-2026", Decimal("0.8"))
    prices = list_prices([summer.pk], derived=True)[summer.pk]
    assert prices["GB"].unit_price == Decimal("10.00")  # its own
    assert prices["minute"].source("minute") == "derived: 0.80 x STD-RETAIL-2026 minute 1.20"
    assert prices["minute"].unit_price == Decimal("0.96")
