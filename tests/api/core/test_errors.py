"""One error shape everywhere, a request id on every response, and the OpenAPI document."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.api.conftest import Caller, a_job

SHAPE = {"code", "message", "details", "request_id"}


def test_every_error_has_the_one_shape_and_the_request_id(
    client: FlaskClient, alice: Caller
) -> None:
    cases = {
        404: client.get("/api/v1/nothing-here"),
        405: client.delete("/api/v1/jobs", headers=alice.headers),
        413: client.post(
            "/api/v1/jobs",
            data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
            headers=alice.with_headers(Content_Type="application/json"),
        ),
        415: client.post(
            "/api/v1/jobs",
            data="kind=x",
            headers=alice.with_headers(Content_Type="application/x-www-form-urlencoded"),
        ),
        400: client.post(
            "/api/v1/jobs",
            data="{not json",
            headers=alice.with_headers(Content_Type="application/json"),
        ),
        422: client.post("/api/v1/jobs", json={"params": []}, headers=alice.headers),
        401: client.get("/api/v1/jobs"),
    }
    for status, response in cases.items():
        assert response.status_code == status, (status, response.json)
        assert set(response.json) == SHAPE, status
        assert response.json["request_id"] == response.headers["X-Request-ID"], status
    assert cases[405].headers["Allow"]
    assert set(cases[422].json["details"]["fields"]) == {"kind", "params"}


def test_a_well_formed_request_id_is_carried_through(client: FlaskClient, alice: Caller) -> None:
    ok = client.post(
        "/api/v1/jobs", json=a_job(), headers=alice.with_headers(X_Request_ID="abc-123")
    )
    odd = client.get("/api/v1/jobs", headers=alice.with_headers(X_Request_ID="<script>"))
    assert ok.headers["X-Request-ID"] == "abc-123"
    assert odd.headers["X-Request-ID"] != "<script>"
    assert len(odd.headers["X-Request-ID"]) == 32


def test_the_openapi_document_and_the_docs_page_are_served(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json")
    docs = client.get("/api/docs")
    assert spec.status_code == 200
    assert spec.json["openapi"].startswith("3.")
    assert "/api/v1/jobs/{job_id}" in spec.json["paths"]
    assert "bearerAuth" in spec.json["components"]["securitySchemes"]
    assert spec.json["paths"]["/api/v1/jobs"]["post"]["summary"].startswith("Submit a job")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data


def test_the_token_is_checked_before_the_body_so_strangers_learn_nothing_of_the_schema(
    client: FlaskClient, alice: Caller
) -> None:
    junk = {"kind": 5, "params": "nope", "extra": True}

    stranger = client.post("/api/v1/jobs", json=junk)
    member = client.post("/api/v1/jobs", json=junk, headers=alice.headers)
    not_admin = client.post(
        "/api/v1/admin/ops/dead-letter/redrive", json={"bogus": 1}, headers=alice.headers
    )
    bad_query = client.get("/api/v1/admin/ops/stats?window=-1", headers=alice.headers)

    assert stranger.status_code == 401 and stranger.json["details"] == {}
    assert member.status_code == 422  # a caller with a token gets the field errors
    assert not_admin.status_code == 403 and not_admin.json["code"] == "permission_denied"
    assert bad_query.status_code == 403


def test_a_body_nested_too_deeply_is_bad_json_not_a_crash(client: FlaskClient) -> None:
    depth = 50_000
    body = '{"email": "a@example.com", "password": ' + "[" * depth + "]" * depth + "}"

    response = client.post(
        "/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json["code"] == "bad_request"
