"""Domain errors and their rendering as RFC 9457 problem details.

Each error carries its own HTTP status; one set of handlers renders every error, including
framework ones (validation, 404, 405) and unexpected crashes, as `application/problem+json`
without a stack trace. `kms` errors are mapped here so that no hvac or crypto detail leaks.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

import kms

log = logging.getLogger("privacy.errors")

PROBLEM_BASE = "https://privacy-vault.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class PrivacyError(Exception):
    """Base of every error the API reports on purpose."""

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra
        # An audit event to record after the request's own transaction was rolled back,
        # so that refusals are provable even though the refused work left no trace.
        self.audit: dict[str, Any] | None = None


class BadRequest(PrivacyError):
    status, code, title = 400, "bad-request", "Bad request"


class PurposeRequired(PrivacyError):
    status, code, title = 400, "purpose-required", "A purpose is required"


class Unauthorized(PrivacyError):
    status, code, title = 401, "unauthorized", "Not authenticated"

    def __init__(self, detail: str = "missing or invalid credentials", **kw: Any):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **kw)


class Forbidden(PrivacyError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(PrivacyError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(PrivacyError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(PrivacyError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class InvalidData(PrivacyError):
    status, code, title = 422, "validation-error", "Invalid data"


class IntegrityFailure(PrivacyError):
    """Stored ciphertext failed to authenticate: tampered, moved or its key is gone."""

    status, code, title = 500, "integrity-error", "Stored data failed its integrity check"


class ServiceUnavailable(PrivacyError):
    status, code, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, **kw: Any):
        super().__init__(detail, headers={"Retry-After": "5"}, **kw)


class AuditUnavailable(ServiceUnavailable):
    code, title = "audit-unavailable", "Audit log unavailable"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def from_kms(exc: kms.KmsError) -> PrivacyError:
    """Translate a key-management failure into the error the caller should see."""
    if isinstance(exc, kms.KeyUnavailable):
        return ServiceUnavailable("the key service (Vault) is unavailable; nothing was changed")
    if isinstance(exc, kms.DecryptionFailed):
        return IntegrityFailure(
            "stored data failed to decrypt: it was altered, moved, or its key was destroyed"
        )
    return ServiceUnavailable("the key service refused the operation; nothing was changed")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        # Never echo the offending input back: it may be personal data.
        out.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    return out


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(PrivacyError)
    async def _privacy(request: Request, exc: PrivacyError) -> JSONResponse:
        return problem_response(
            request,
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(kms.KmsError)
    async def _kms(request: Request, exc: kms.KmsError) -> JSONResponse:
        return await _privacy(request, from_kms(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["message"].startswith("JSON decode error") for e in errors):
            detail = "the request body is not valid JSON"
        else:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
        return problem_response(
            request,
            status=422,
            code="validation-error",
            title="Invalid request",
            detail=detail,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        # The body cap raises a plain 413 while the body streams in: same problem type as
        # the one refused up front by its Content-Length.
        code = PayloadTooLarge.code if exc.status_code == 413 else f"http-{exc.status_code}"
        return problem_response(
            request,
            status=exc.status_code,
            code=code,
            title=titles.get(exc.status_code, "Request refused"),
            detail=detail,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError) -> JSONResponse:
        log.error("database error: %s", type(exc.orig).__name__ if exc.orig else type(exc))
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            err: PrivacyError = ServiceUnavailable(
                "the database is unavailable; nothing was changed"
            )
        else:
            err = PrivacyError("the database refused the operation; nothing was changed")
        return await _privacy(request, err)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception messages can carry values from the request.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem_response(
            request,
            status=500,
            code="internal-error",
            title="Internal error",
            detail="an unexpected error occurred; nothing was changed",
        )


DEFAULT_PROBLEM: dict[int | str, dict[str, Any]] = {
    "default": {"model": Problem, "description": "Error (problem details)"}
}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": desc}
    for code, desc in {
        400: "Bad request",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Payload too large",
        422: "Invalid request",
        429: "Too many requests",
        500: "Integrity or internal error",
        503: "Vault or database unavailable",
    }.items()
}
