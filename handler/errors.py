"""Errors that carry their HTTP status, so one place can turn any of them into a response."""

from __future__ import annotations

from http import HTTPStatus


class ServingError(Exception):
    """Base error: a message safe to show the client, and the HTTP status it maps to."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """The JSON error body: status code, reason phrase and message."""
        return {"code": int(self.status), "type": self.status.phrase, "message": self.message}


class InvalidInput(ServingError):
    """The request is malformed or a value breaks the input schema."""

    status = HTTPStatus.BAD_REQUEST


class UnsupportedMediaType(ServingError):
    """The request's Content-Type has no codec."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class NotAcceptable(ServingError):
    """The request's Accept names no format we can write."""

    status = HTTPStatus.NOT_ACCEPTABLE


class PayloadTooLarge(ServingError):
    """The request holds more rows or longer fields than the configured limits."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class NotFound(ServingError):
    """No such route, or no such model loaded."""

    status = HTTPStatus.NOT_FOUND


class Conflict(ServingError):
    """A model of that name is already loaded."""

    status = HTTPStatus.CONFLICT


class Unavailable(ServingError):
    """The model is not ready yet (it is loading)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class InternalError(ServingError):
    """Something broke on our side while serving one request."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR


class ArtifactError(Exception):
    """A model file is missing, unreadable or does not match the format (raised at load)."""


class ConfigError(ValueError):
    """A setting, option or variable has a value we cannot use: a usage error, never a bug."""
