"""The project boots, every page needs a signed-in user, roles hold the right permissions."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import Group as Role
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.roles import PRICING_MANAGERS, SUPPORT_STAFF


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def concrete_path(route: str) -> str:
    """Turn a route such as ``groups/<uuid:pk>/`` into a path the resolver will accept."""
    import re

    route = route.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    route = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", route)
    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(?:str|slug|path:)?\w+>", "x", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "x", route)
    route = re.sub(r"\(\?P<format>[^)]*\)\?", "", route)
    return "/" + route


def page_routes():
    """Every URL of the pages (not the API, which answers 401 itself, nor the Django admin)."""
    for route, pattern in _walk(get_resolver().url_patterns):
        path = concrete_path(route)
        if path.startswith(("/api/", "/admin/", "/static/")) or "format" in route:
            continue
        if pattern.name == "login":
            continue
        yield path


def test_settings_use_tz_and_embedded_sqlite_default(monkeypatch):
    """Time zones are on; with no DATABASE_URL the embedded SQLite file is used."""
    assert settings.USE_TZ is True
    code = (
        "import os; os.environ.pop('DATABASE_URL', None);"
        "os.environ['DJANGO_DEBUG']='1';"
        "from billing import settings as s; print(s.DATABASES['default']['ENGINE'], "
        "s.DATABASES['default']['NAME'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("django.db.backends.sqlite3")
    assert out.strip().endswith("db.sqlite3")


def test_postgres_url_uses_pool_and_health_checks():
    """A postgres DATABASE_URL gives psycopg 3 with Django's pool and health checks."""
    code = (
        "import os; os.environ['DATABASE_URL']='postgres://u@127.0.0.1:5432/x';"
        "os.environ['DJANGO_DEBUG']='1';"
        "from billing import settings as s; d=s.DATABASES['default'];"
        "print(d['ENGINE'], d['CONN_HEALTH_CHECKS'], 'pool' in d['OPTIONS'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["django.db.backends.postgresql", "True", "True"]


def test_production_server_refuses_to_start_without_secret_key():
    """Without debug, a missing DJANGO_SECRET_KEY stops the server, not a silent default."""
    code = (
        "import os; os.environ.pop('DJANGO_SECRET_KEY', None); os.environ['DJANGO_DEBUG']='0';"
        "os.environ.pop('DJANGO_SETTINGS_MODULE', None); import billing.wsgi"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_migration_commands_run_without_any_environment():
    """A developer (or CI) can check migrations with no variables set at all."""
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    """``manage.py check --deploy`` reports nothing with production variables set."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-" + "k7Qz9" * 10,
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "ratecard.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://ratecard.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_login_page_is_public(client):
    """The sign-in page is the one page an anonymous visitor can open."""
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in to Ratecard" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(set(page_routes())))
def test_every_page_requires_sign_in(client, path):
    """Walks the URL resolver: every page redirects anonymous visitors to the login page."""
    response = client.get(path)
    assert response.status_code == 302, path
    assert response["Location"].startswith(reverse("login")), path


@pytest.mark.django_db
def test_api_refuses_anonymous_with_401(client):
    """The API answers anonymous requests with 401, not a login redirect."""
    response = client.get("/api/v1/groups")
    assert response.status_code in (401, 404)  # 404 until the API exists


@pytest.mark.django_db
def test_dashboard_for_signed_in_user(manager_client):
    response = manager_client.get("/")
    assert response.status_code == 200
    for label in ("Groups", "Customers", "Price lists", "Rules", "Audit", "Simulate"):
        assert label.encode() in response.content


@pytest.mark.django_db
def test_pricing_managers_hold_every_domain_permission(manager):
    """Pricing managers may change groups, price lists and rules."""
    for perm in (
        "groups.change_customergroup",
        "groups.delete_customergroup",
        "pricing.add_pricingrule",
        "pricing.change_pricelist",
        "groups.add_membership",
    ):
        assert manager.has_perm(perm), perm


@pytest.mark.django_db
def test_support_staff_manage_customers_and_memberships_only(support):
    """Support staff view everything, manage customers and memberships, never rules or lists."""
    for perm in (
        "groups.view_customergroup",
        "pricing.view_pricingrule",
        "groups.add_customer",
        "groups.change_customer",
        "groups.add_membership",
        "groups.delete_membership",
        "groups.review_customergroup",
    ):
        assert support.has_perm(perm), perm
    for perm in (
        "groups.add_customergroup",
        "groups.change_customergroup",
        "groups.delete_customergroup",
        "pricing.add_pricingrule",
        "pricing.change_pricingrule",
        "pricing.delete_pricelist",
        "pricing.change_pricelist",
    ):
        assert not support.has_perm(perm), perm


@pytest.mark.django_db
def test_roles_are_created_by_migration():
    assert set(Role.objects.values_list("name", flat=True)) >= {PRICING_MANAGERS, SUPPORT_STAFF}


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    """Running seed_demo twice creates the worked example once."""
    from django.core.management import call_command

    from groups.models import Customer, CustomerGroup, Membership
    from pricing.models import PricingRule

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = (
        Customer.objects.count(),
        CustomerGroup.objects.count(),
        Membership.objects.count(),
        PricingRule.objects.count(),
    )
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert counts == (
        Customer.objects.count(),
        CustomerGroup.objects.count(),
        Membership.objects.count(),
        PricingRule.objects.count(),
    )
    assert counts[1] == 4
    # VIP Customers keeps itself by criteria; End Customer Ltd qualifies on last month's usage.
    vip = CustomerGroup.objects.get(code="vip")
    assert vip.criteria.enabled
    assert vip.criteria.conditions[0]["kind"] == "usage"
    assert vip.memberships.current().filter(customer__name="End Customer Ltd").exists()
    assert not vip.memberships.current().filter(customer__name="Tech Corp").exists()
    assert Membership.objects.filter(left_reason="criteria").count() == 0
    assert set(CustomerGroup.objects.values_list("name", flat=True)) == {
        "VIP Customers",
        "Standard",
        "Startup Program",
        "Summer Promo 2026",
    }


@pytest.mark.django_db
def test_seed_demo_scale_generates_proportionate_data():
    from io import StringIO

    from django.core.management import call_command

    from groups.models import Customer, Membership
    from pricing.models import UsageRecord

    out = StringIO()
    call_command("seed_demo", "--scale", "300", "--usage", "50", stdout=out)
    assert Customer.objects.filter(external_id__startswith="S").count() == 300
    assert Membership.objects.filter(customer__external_id__startswith="S").count() == 3000
    # Besides the worked example's last month of usage (VIP Customers' criteria).
    assert UsageRecord.objects.filter(customer__external_id__startswith="S").count() == 50
