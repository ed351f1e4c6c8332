"""Errors the emulator answers, in the three shapes the real services use."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "bad_parameter", "instance_not_found"]

_IAM_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


class ApiError(Exception):
    """An error answer.

    ``style`` picks the body: ``"modelarts"`` → ``{"error_code", "error_msg"}``; ``"gateway"`` (API
    gateway errors, ``APIGW.*``) → the same plus ``request_id``; ``"iam"`` → the Keystone-style
    ``{"error": {"code", "message", "title"}}`` of IAM.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        style: str = "modelarts",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.style = style
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> dict[str, Any]:
        if self.style == "iam":
            return {
                "error": {
                    "code": self.status,
                    "message": self.message,
                    "title": _IAM_TITLES.get(self.status, "Error"),
                }
            }
        body: dict[str, Any] = {"error_code": self.code, "error_msg": self.message}
        if self.style == "gateway":
            body["request_id"] = request_id
        return body


def bad_parameter(message: str) -> ApiError:
    """HTTP 400 ``ModelArts.0104`` (parameter error)."""
    return ApiError(400, "ModelArts.0104", f"Parameter error: {message}")


def instance_not_found(instance_id: str) -> ApiError:
    """HTTP 400 ``ModelArts.6309``: ModelArts answers a missing instance with 400, not 404."""
    return ApiError(400, "ModelArts.6309", f"The instance {instance_id} does not exist.")
