"""The two roles of Ratecard, as Django auth groups, and the permissions each one holds.

Pricing managers own the pricing configuration; support staff look after customers and their
memberships. Superusers need no role. ``sync_roles`` is called by data migrations, so it works
with historical models as well as with the live ones.
"""

from collections.abc import Iterable

PRICING_MANAGERS = "Pricing managers"
SUPPORT_STAFF = "Support staff"

# The apps whose every permission a pricing manager holds.
DOMAIN_APPS = ("groups", "pricing")
# Apps only pricing managers see at all: background work, webhook endpoints (their secrets).
MANAGER_ONLY_APPS = ("background", "billing")

SUPPORT_STAFF_EXTRA = (
    "groups.add_customer",
    "groups.change_customer",
    "groups.add_membership",
    "groups.change_membership",
    "groups.delete_membership",
    "groups.review_customergroup",
)


def _codename_pairs(perms: Iterable[str]) -> list[tuple[str, str]]:
    return [tuple(perm.split(".", 1)) for perm in perms]  # type: ignore[misc]


def sync_roles(apps, schema_editor=None) -> None:
    """Create or update both role groups so they hold exactly their permissions.

    Permissions are created first (Django normally does that after all migrations ran), so the
    roles can be synced inside a migration on a fresh database.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, which create_permissions requires.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    domain = Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS)
    managers, _ = Group.objects.get_or_create(name=PRICING_MANAGERS)
    manager_only = Permission.objects.filter(content_type__app_label__in=MANAGER_ONLY_APPS)
    managers.permissions.set([*domain, *manager_only])

    view_all = domain.filter(codename__startswith="view_")
    extra = [
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in _codename_pairs(SUPPORT_STAFF_EXTRA)
    ]
    support, _ = Group.objects.get_or_create(name=SUPPORT_STAFF)
    support.permissions.set([*view_all, *extra])


def noop(apps, schema_editor) -> None:
    """Reverse of a roles migration: the groups stay (users may belong to them)."""
