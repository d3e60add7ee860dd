"""Security headers, CSRF and login throttling."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_pages_send_csp_clickjacking_and_nosniff_headers(manager_client):
    response = manager_client.get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_scripts_or_styles(manager_client):
    """Every <script> has a src (and the CSP nonce); no <style> element, no style= attribute."""
    html = manager_client.get("/").content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)


def test_login_form_requires_a_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert b"This form has expired" in response.content


def test_htmx_posts_without_the_csrf_header_are_refused(manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(reverse("logout"), HTTP_HX_REQUEST="true")
    assert response.status_code == 403


def test_repeated_wrong_passwords_lock_the_account_with_a_clear_message():
    factories.user("victim")
    client = Client()
    statuses = [
        client.post(reverse("login"), {"username": "victim", "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]
    # Locked: even the right password is refused for now.
    response = client.post(reverse("login"), {"username": "victim", "password": "secret-pass-123"})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content


def test_a_good_password_signs_in():
    factories.user("someone")
    client = Client()
    response = client.post(reverse("login"), {"username": "someone", "password": "secret-pass-123"})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def _post_pages():
    from tests.test_permission_matrix import MATRIX, concrete, page_patterns

    patterns = page_patterns()
    for name, methods in sorted(MATRIX.items()):
        if "POST" in methods:
            yield pytest.param(concrete(patterns[name]), id=name)


@pytest.mark.parametrize("path", list(_post_pages()))
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_every_state_changing_page_refuses_posts_without_a_csrf_token(superuser, path, htmx):
    """With CSRF checks on, no POST gets past the check without the token (htmx included)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(path, {}, **headers)
    assert response.status_code == 403, path


def test_a_post_with_the_csrf_header_gets_through(superuser, worked_example):
    """htmx sends the token in the X-CSRFToken header (from <body hx-headers>): accepted."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    client.get("/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    group = worked_example["vip"]
    response = client.post(
        f"/groups/{group.pk}/review/", HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200
    group.refresh_from_db()
    assert group.reviewed_at is not None


def test_session_authenticated_api_writes_need_the_csrf_token(manager):
    """A browser session cannot be used to write through the API without the token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post("/api/v1/groups", {"name": "Sneaky"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_token_authenticated_api_writes_need_no_csrf_token(manager):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=manager)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/groups",
        {"name": "Scripted"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 201
