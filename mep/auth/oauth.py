"""What every OAuth 2.0 token endpoint of the platform shares (RFC 6749 clauses 4.4 and 5.2):
reading the form body, and the error body OAuth client libraries parse (not ProblemDetails)."""

from __future__ import annotations

from aiohttp import web

from mep.core.http import json_response

#: RFC 6749 clause 5.1: token responses, and their errors, are never cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An RFC 6749 clause 5.2 error: ``error`` is one of its codes."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(NO_STORE)

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return json_response(body, status=self.status, headers=self.headers)


async def read_form(request: web.Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body, each parameter once (clause 3.2)."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    form = await request.post()
    fields: dict[str, str] = {}
    for name in form:
        values = form.getall(name)
        if len(values) > 1:
            raise OAuthError("invalid_request", f"parameter {name!r} is repeated")
        if not isinstance(values[0], str):
            raise OAuthError("invalid_request", f"parameter {name!r} must be text")
        fields[name] = values[0]
    return fields


def require_client_credentials(form: dict[str, str]) -> None:
    """The only grant the platform serves: client credentials (clause 4.4)."""
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant != "client_credentials":
        raise OAuthError("unsupported_grant_type", f"grant_type {grant!r} is not supported")
