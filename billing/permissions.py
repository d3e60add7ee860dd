"""API permissions: the same roles as the pages, expressed as Django model permissions."""

from rest_framework.permissions import BasePermission

METHOD_ACTIONS = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


class RolePermission(BasePermission):
    """Allow a request when the user holds the model permission its method needs.

    A view may declare ``required_permissions = {"POST": ["groups.add_membership"], ...}`` for
    endpoints whose permission is not the obvious one of its queryset's model (membership,
    rating). Anonymous users are refused, which DRF turns into 401 with token auth.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        return user.has_perms(self.required_permissions(request.method, view))

    @staticmethod
    def required_permissions(method: str, view) -> list[str]:
        declared = getattr(view, "required_permissions", None)
        if declared is not None and method in declared:
            return list(declared[method])
        if method == "OPTIONS" and declared is not None and "GET" in declared:
            return list(declared["GET"])
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            return ["__denied__.no_permission_declared"]
        opts = queryset.model._meta
        action = METHOD_ACTIONS.get(method)
        if action is None:
            return ["__denied__.method_not_allowed"]
        return [f"{opts.app_label}.{action}_{opts.model_name}"]
