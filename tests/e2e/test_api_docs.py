"""The interactive API docs load from our own static files under the strict CSP."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

COLLECT_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_swagger_docs_render_the_schema_without_csp_violations(page, live_server):
    """/api/v1/docs shows every operation from the schema with no CSP violation and no CDN."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.add_init_script(COLLECT_CSP_VIOLATIONS)

    page.goto(f"{live_server.url}/api/v1/docs")
    page.get_by_text("/api/v1/groups/{id}/customers/{customer_id}").wait_for()

    assert page.evaluate("window.__cspViolations") == []
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requested)
