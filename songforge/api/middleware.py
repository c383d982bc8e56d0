"""ASGI middleware: request ids, the body size limit, request metrics, the last
word on unexpected errors, and transport-security headers.

Written as plain ASGI (not BaseHTTPMiddleware) because it sits on every request
and must not add a task hop or buffer streamed responses.

Unexpected exceptions end here: this middleware answers the 500 itself and does
not let the exception travel on. Past this point Starlette's ServerErrorMiddleware
re-raises it to the server, and uvicorn then closes the keep-alive connection
(the client's next request on it fails with a reset) and the answer would escape
the request metrics. An error answer is an ordinary answer.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from songforge.api.proxies import TrustedProxies
from songforge.errors import error_body
from songforge.metrics import Metrics

log = logging.getLogger("songforge.api")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Production answers are served over HTTPS only (Settings.insecure_for_production):
# browsers should never try plain HTTP for the next year.
HSTS_VALUE = b"max-age=31536000; includeSubDomains"


class BodyTooLarge(Exception):
    pass


async def _send_error(send: Send, status: int, type: str, message: str) -> None:
    # ``send`` is send_with_id: it adds the request id and security headers.
    body = json.dumps(error_body(status, type, message), separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: Metrics,
        hsts: bool = False,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.hsts = hsts
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        # Keep a caller's id when it is sane, so logs on both sides line up.
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else "req_" + secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        if self.proxies and scope.get("client"):
            self._apply_proxy_headers(scope, headers)
        status_holder: dict[str, Any] = {"status": 500, "started": False}
        extra_headers = [(b"x-request-id", request_id.encode())]
        if self.hsts:
            extra_headers.append((b"strict-transport-security", HSTS_VALUE))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *extra_headers]
            await send(message)

        declared = headers.get(b"content-length")
        if declared is not None and _too_long(declared, self.max_body_bytes):
            await _send_error(send_with_id, 413, "invalid_request", self._too_large())
            self._observe(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            if not status_holder["started"]:
                await _send_error(send_with_id, 413, "invalid_request", self._too_large())
        except Exception:
            log.exception("unhandled error, request id %s", request_id)
            if status_holder["started"]:
                # Half an answer is on the wire; the server closes the connection.
                status_holder["status"] = 500
            else:
                await _send_error(
                    send_with_id,
                    500,
                    "internal_error",
                    f"Internal error; quote request id {request_id} when reporting it",
                )
        self._observe(scope, status_holder["status"], started)

    def _apply_proxy_headers(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        assert self.proxies is not None
        peer, port = scope["client"]
        if not self.proxies.trusts(peer):
            return
        forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
        scope["client"] = (self.proxies.client_address(peer, forwarded), port)
        proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[-1].strip()
        if proto in ("http", "https"):
            scope["scheme"] = proto

    def _too_large(self) -> str:
        return f"Request body is larger than {self.max_body_bytes // 1024} KiB"

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        self.metrics.observe_request(scope.get("method", ""), name, status, started)


def _too_long(declared: bytes, limit: int) -> bool:
    # Digits only, and no more of them than needed: int() of 4,301 digits raises.
    return declared.isdigit() and (len(declared) > 18 or int(declared) > limit)
