"""Pages for groups and customers (``/groups/``, ``/customers/``), included at the site root."""

from django.urls import path

from groups.views import criteria, customers, groups, members

app_name = "groups"

urlpatterns = [
    path("groups/", groups.group_list, name="group_list"),
    path("groups/new/", groups.group_create, name="group_create"),
    path("groups/<uuid:pk>/", groups.group_detail, name="group_detail"),
    path("groups/<uuid:pk>/edit/", groups.group_edit, name="group_edit"),
    path("groups/<uuid:pk>/review/", groups.group_review, name="group_review"),
    path("groups/<uuid:pk>/delete/", groups.group_delete, name="group_delete"),
    path("groups/<uuid:pk>/history/", groups.group_history, name="group_history"),
    path("groups/<uuid:pk>/members-chart/", groups.group_members_chart, name="group_members_chart"),
    path("groups/<uuid:pk>/criteria/", criteria.group_criteria, name="group_criteria"),
    path("groups/<uuid:pk>/criteria/row/", criteria.group_criteria_row, name="group_criteria_row"),
    path(
        "groups/<uuid:pk>/criteria/refresh/",
        criteria.group_criteria_refresh,
        name="group_criteria_refresh",
    ),
    path("groups/<uuid:pk>/members/", members.member_list, name="member_list"),
    path("groups/<uuid:pk>/members/search/", members.member_search, name="member_search"),
    path("groups/<uuid:pk>/members/add/", members.member_add, name="member_add"),
    path(
        "groups/<uuid:pk>/members/<uuid:customer_pk>/remove/",
        members.member_remove,
        name="member_remove",
    ),
    path("groups/<uuid:pk>/members/bulk/", members.member_bulk, name="member_bulk"),
    path("groups/<uuid:pk>/members.csv", members.member_export, name="member_export"),
    path("customers/", customers.customer_list, name="customer_list"),
    path("customers/new/", customers.customer_create, name="customer_create"),
    path("customers/import/", customers.customer_import, name="customer_import"),
    path("customers/<uuid:pk>/", customers.customer_detail, name="customer_detail"),
    path("customers/<uuid:pk>/edit/", customers.customer_edit, name="customer_edit"),
    path("customers/<uuid:pk>/history/", customers.customer_history, name="customer_history"),
    path(
        "customers/<uuid:pk>/groups/search/",
        customers.customer_group_search,
        name="customer_group_search",
    ),
    path(
        "customers/<uuid:pk>/groups/add/", customers.customer_group_add, name="customer_group_add"
    ),
    path(
        "customers/<uuid:pk>/groups/<uuid:group_pk>/remove/",
        customers.customer_group_remove,
        name="customer_group_remove",
    ),
]
