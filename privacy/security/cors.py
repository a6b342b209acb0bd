"""CORS with refusals in the service's error format.

Starlette answers a refused preflight with a plain-text 400; every other error of this
service is problem+json, and clients (and their logs) should not need a second parser.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response

from privacy.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE


class ProblemCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
        body = {
            "type": PROBLEM_BASE + "cors-refused",
            "title": "Cross-origin request refused",
            "status": 400,
            "detail": f"not allowed for cross-origin requests here: {refused} "
            "(see PRIVACY_CORS_ORIGINS)",
        }
        headers = {
            k: v for k, v in answer.headers.items() if k not in ("content-length", "content-type")
        }
        return JSONResponse(body, status_code=400, media_type=PROBLEM_MEDIA_TYPE, headers=headers)
