"""The invocation protocol every engine speaks: one request in, one response out, with SageMaker's headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from handler.errors import ServingError

# Headers of SageMaker's invocation contract, which every engine adapter serves.
CONTENT_TYPE = "Content-Type"
ACCEPT = "Accept"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"  # echoed back when the request set it
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"  # the request id in our logs; Model Monitor keys on it


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A request header, whatever case the client sent it in; None when absent or not text."""
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            if isinstance(value, (bytes, bytearray)):
                value = bytes(value).decode("latin-1")
            return value if isinstance(value, str) else None
    return None


@dataclass(frozen=True)
class Request:
    """One request as the engine hands it over."""

    body: Any  # bytes, or what the engine already decoded (str, parsed JSON)
    content_type: str | None = None
    accept: str | None = None
    request_id: str = ""  # the inference id when the caller sent one, else the engine's id
    custom_attributes: str | None = None  # X-Amzn-SageMaker-Custom-Attributes, as sent

    @classmethod
    def from_headers(cls, body: Any, headers: Mapping[str, Any], engine_id: str = "") -> Request:
        """A request from its HTTP headers (any case)."""
        return cls(
            body=body,
            content_type=header(headers, CONTENT_TYPE),
            accept=header(headers, ACCEPT),
            request_id=header(headers, INFERENCE_ID) or engine_id,
            custom_attributes=header(headers, CUSTOM_ATTRIBUTES),
        )

    def attributes(self) -> dict[str, str]:
        """The custom attributes as `key=value` pairs separated by `;` (text without `=` is ignored)."""
        pairs = {}
        for part in (self.custom_attributes or "").split(";"):
            key, sep, value = part.partition("=")
            if sep and key.strip():
                pairs[key.strip().lower()] = value.strip()
        return pairs

    def echo(self) -> dict[str, str]:
        """Headers every response to this request carries: its custom attributes, as SageMaker returns them."""
        return {CUSTOM_ATTRIBUTES: self.custom_attributes} if self.custom_attributes is not None else {}


@dataclass(frozen=True)
class Response:
    """One answer: status, media type, body and headers."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def phrase(self) -> str:
        """The HTTP reason phrase of the status."""
        return HTTPStatus(self.status).phrase


def error_response(error: ServingError, headers: Mapping[str, str] | None = None) -> Response:
    """The one place an error becomes a response: its status and a JSON body."""
    body = json.dumps(error.to_dict()).encode("utf-8")
    return Response(int(error.status), "application/json", body, dict(headers or {}))
