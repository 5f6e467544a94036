"""The invocation protocol: headers in any case, the inference id as request id, custom attributes."""

from __future__ import annotations

import pytest

from handler.errors import InvalidInput
from handler.inference.protocol import CUSTOM_ATTRIBUTES, Request, error_response


def test_headers_in_any_case_and_the_inference_id_as_request_id() -> None:
    headers = {
        "content-type": "text/csv",
        "ACCEPT": "application/json",
        "x-amzn-sagemaker-inference-id": "inf-1",
        "X-Amzn-SageMaker-Custom-Attributes": "outputs=probability",
    }
    request = Request.from_headers(b"x", headers, engine_id="ts-7")
    assert (request.content_type, request.accept, request.request_id) == ("text/csv", "application/json", "inf-1")
    assert request.custom_attributes == "outputs=probability"
    assert Request.from_headers(b"x", {}, engine_id="ts-7").request_id == "ts-7"


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, {}),
        ("", {}),
        ("trace-1234", {}),  # free text, as SageMaker's own examples send it: ignored
        ("outputs=predicted_label,probability", {"outputs": "predicted_label,probability"}),
        (" Outputs = labels ; trace=a=b ;junk; =x", {"outputs": "labels", "trace": "a=b"}),
    ],
)
def test_custom_attributes_are_key_value_pairs(text: str | None, expected: dict) -> None:
    assert Request(b"", custom_attributes=text).attributes() == expected


def test_custom_attributes_are_echoed_as_sent_and_only_when_sent() -> None:
    assert Request(b"", custom_attributes="a=1; b").echo() == {CUSTOM_ATTRIBUTES: "a=1; b"}
    assert Request(b"").echo() == {}
    response = error_response(InvalidInput("bad"), Request(b"", custom_attributes="c").echo())
    assert response.status == 400 and response.headers == {CUSTOM_ATTRIBUTES: "c"}
