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
