"""A person signs in through Chromium and lands on the dashboard."""

import pytest

from billing.roles import PRICING_MANAGERS
from tests import factories
from tests.e2e.conftest import sign_in


@pytest.mark.django_db(transaction=True)
def test_manager_signs_in_and_sees_the_dashboard(live_server, page):
    """Typing the user name and password on the login page opens the dashboard."""
    factories.user("manager", role=PRICING_MANAGERS)
    sign_in(page, live_server, "manager")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_role("link", name="Groups", exact=True).first.is_visible()


@pytest.mark.django_db(transaction=True)
def test_wrong_password_shows_a_message(live_server, page):
    factories.user("manager", role=PRICING_MANAGERS)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("User name").fill("manager")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert "correct username and password" in page.get_by_role("alert").inner_text()
