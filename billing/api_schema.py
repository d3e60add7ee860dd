"""OpenAPI post-processing: the paths as documented, and the error answers every operation has.

drf-spectacular documents what the serializers return; the errors come from DRF and
``billing.exceptions`` for every operation alike, so they are added here once rather than on
each view. Paths are published without the trailing slash (both forms are served).
"""

PROTECTED_DELETES = {"/api/v1/groups/{id}", "/api/v1/price-lists/{id}", "/api/v1/customers/{id}"}
# Resources with an ETag: their writes take If-Match and answer 412 when it is stale.
VERSIONED = {"/api/v1/groups/{id}", "/api/v1/price-lists/{id}", "/api/v1/pricing-rules/{id}"}

DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
VALIDATION = {"$ref": "#/components/schemas/ValidationErrors"}

ERROR_SCHEMAS = {
    "ErrorDetail": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationErrors": {
        "type": "object",
        "description": (
            'Messages by field, e.g. {"name": ["This field is required."]}; '
            "non_field_errors for the request as a whole."
        ),
        "additionalProperties": True,
    },
}


def _response(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document_errors(result: dict, generator, request, public) -> dict:
    """Strip trailing slashes from paths and add the 400/401/403/404/409/412 answers."""
    paths = {}
    for path, operations in result.get("paths", {}).items():
        path = path.rstrip("/") if path != "/" else path
        paths[path] = operations
        if path.endswith(("/schema", "/docs")):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("400", _response("Invalid input; nothing changed.", VALIDATION))
            responses.setdefault("401", _response("Not signed in (token or session).", DETAIL))
            responses.setdefault("403", _response("The user's role does not allow this.", DETAIL))
            responses.setdefault("404", _response("Unknown id, URL or page.", DETAIL))
            if method == "delete" and path in PROTECTED_DELETES:
                responses.setdefault(
                    "409", _response("Still referenced (the message names by what).", DETAIL)
                )
            if method in {"put", "patch", "delete"} and path in VERSIONED:
                responses.setdefault(
                    "412",
                    _response(
                        "If-Match named a version that is no longer current; nothing changed. "
                        "The ETag header carries the current one.",
                        DETAIL,
                    ),
                )
    result["paths"] = paths
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    return result
