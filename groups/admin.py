"""Django admin for superusers: customers, groups and membership history."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from groups.models import Customer, CustomerGroup, Membership
from groups.selectors import group_table


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["customer", "group"]
    readonly_fields = ["joined_by", "left_by", "backdated_at", "backdated_by"]
    fields = ["customer", "group", "joined_at", "joined_by", "left_at", "left_by"]
    show_change_link = True


class CustomerMembershipInline(MembershipInline):
    fk_name = "customer"
    fields = ["group", "joined_at", "joined_by", "left_at", "left_by"]


class KeepsHistoryAdmin(SimpleHistoryAdmin):
    """Customers and groups with membership history are archived by the pages and the API,
    never deleted: the admin offers no delete for them (nor a bulk delete), so it cannot
    erase that history either."""

    actions = None
    readonly_fields = ["archived_at", "archived_by"]

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.memberships.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Customer)
class CustomerAdmin(KeepsHistoryAdmin):
    list_display = ["name", "external_id", "email", "is_active", "archived_at", "created_at"]
    list_filter = ["is_active", ("archived_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "external_id", "email"]
    show_full_result_count = False
    inlines = [CustomerMembershipInline]


@admin.register(CustomerGroup)
class CustomerGroupAdmin(KeepsHistoryAdmin):
    list_display = [
        "name",
        "code",
        "member_count",
        "rule_count",
        "expires_on",
        "reviewed_at",
        "updated_at",
    ]
    list_filter = ["expires_on", "reviewed_at", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "code", "description"]
    readonly_fields = [
        "reviewed_at",
        "reviewed_by",
        "members_changed_at",
        "memberships",
        *KeepsHistoryAdmin.readonly_fields,
    ]
    list_select_related = ["reviewed_by"]
    # No membership inline: a group of 100,000 members would render every one of them. The
    # membership list, filtered to the group, pages and searches them instead.

    def get_queryset(self, request):
        # The same correlated counts as the /groups/ page: no query per row in the changelist.
        return group_table(include_archived=True)

    @admin.display(description="members", ordering="member_count")
    def member_count(self, group: CustomerGroup) -> int:
        return group.member_count

    @admin.display(description="rules", ordering="rule_count")
    def rule_count(self, group: CustomerGroup) -> int:
        return group.rule_count

    @admin.display(description="memberships")
    def memberships(self, group: CustomerGroup) -> str:
        if group.pk is None:
            return "—"
        url = reverse("admin:groups_membership_changelist") + f"?group__id__exact={group.pk}"
        return format_html(
            '{} current members. <a href="{}">Open the group\'s memberships</a> (every period, '
            "paged and searchable).",
            getattr(group, "member_count", "—"),
            url,
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["customer", "group", "joined_at", "joined_by", "left_at", "left_by"]
    list_filter = ["group", ("left_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["backdated_at", "backdated_by"]
    search_fields = ["customer__name", "customer__external_id", "group__name", "group__code"]
    autocomplete_fields = ["customer", "group"]
    list_select_related = ["customer", "group", "joined_by", "left_by"]
    show_full_result_count = False
    date_hierarchy = "joined_at"
