"""Schemathesis against the API's own OpenAPI document: every operation, as a member and as a
platform admin, with generated input valid and invalid. No answer may be a 5xx the operation
does not document, and every error must be in the one shape.

A new endpoint is fuzzed as soon as it is in the document. Everything runs in the test's
rolled-back transaction; the broker messages submissions leave are flushed after.

Each operation's cases come from schemathesis's strategies (`APIOperation.as_strategy`), run
by Hypothesis here, one subtest per operation: schemathesis's own pytest fixture integration
(`schemathesis.pytest.from_fixture`) does not run on pytest 9.2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from sqlalchemy.orm import Session

from config.settings import RATE_LIMIT_SETTINGS
from models.accounts.users import User
from models.core.access import Role
from models.orgs.organizations import join
from tests.api.conftest import a_job
from tests.conftest import access_token, make_user, org_of
from web import create_app
from workers.core.setup import Platform

SHAPE = {"code", "message", "details", "request_id"}
# Values that broke this API or others before, put into one field of half the cases: random
# generation alone seldom draws a NUL, never a lone surrogate (schemathesis keeps strings
# encodable) and rarely an integer just past a bigint.
BAD_TEXT = ["\x00", "a\x00b", str(2**63), str(-(2**63) - 1), "1" + "0" * 400, "", "x" * 5000]
BAD_JSON = [
    *BAD_TEXT,
    "\ud800",
    "tail \udfff",
    2**63,
    -(2**63) - 1,
    10**400,
    1e308,
    -0.0,
    None,
    True,
    [],
    {},
    {"\x00": 1},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
]
EXAMPLES_PER_OPERATION = 15
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same cases every run: a failure here is a bug, not bad luck
    database=None,  # no .hypothesis/ left in the working tree
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
)


@dataclasses.dataclass
class Caller:
    """Who the fuzzer calls as, and the ids of rows they may act on, to aim cases at."""

    platform: Platform
    session: Session
    user: User
    ids: dict[str, str]
    token: str | None = None

    def headers(self) -> dict[str, str]:
        if self.token is None:
            self.token = access_token(self.platform, self.session, self.user)
        return {"Authorization": f"Bearer {self.token}"}

    def after(self, case: Case, status: int) -> None:
        """A new login session after any call that changed something: a fuzzed logout-all
        must not end the run's session."""
        if case.method.upper() != "GET" and status < 300:
            self.token = None


@pytest.fixture()
def fuzz_app(tx_platform: Platform) -> Iterator[Flask]:
    """The API with its rate limits out of the fuzzer's way (still counted, never reached)."""
    settings = tx_platform.settings.replace(
        **{name: "100000/minute" for name in RATE_LIMIT_SETTINGS}
    )
    yield create_app(platform=dataclasses.replace(tx_platform, settings=settings))
    tx_platform.broker.flush_all()  # submissions' messages name jobs that were rolled back


def caller_of(app: Flask, platform: Platform, session: Session, *, admin: bool) -> Caller:
    """A user who owns an organisation with a second member in it and a job of their own."""
    user = make_user(session, admin=admin)
    org_id = org_of(session, user.id)
    member = make_user(session)
    join(session=session, org_id=org_id, user_id=member.id, role=Role.MEMBER)
    session.commit()
    headers = {"Authorization": f"Bearer {access_token(platform, session, user)}"}
    job = app.test_client().post("/api/v1/jobs", json=a_job(), headers=headers)
    ids = {"org_id": str(org_id), "user_id": str(member.id), "job_id": job.json["id"]}
    return Caller(platform, session, user, {**ids, "name": "default"})


def operations(app: Flask) -> list[APIOperation]:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    # A stream never ends by design: it is no case for a request-and-answer fuzzer.
    return [op for op in found if "text/event-stream" not in str(op.definition.raw)]


def cases(operation: APIOperation) -> st.SearchStrategy[Case]:
    modes = [GenerationMode.POSITIVE]
    if operation.body or any(True for _ in operation.iter_parameters()):
        modes.append(GenerationMode.NEGATIVE)  # nothing to get wrong otherwise
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


def spoil(case: Case, draw: Any) -> None:
    """Put one of the known bad values into one field of `case` (query, path or JSON body)."""
    places: list[tuple[Any, Any, list[Any]]] = []
    for container in (case.query, case.path_parameters):
        places.extend((container, key, BAD_TEXT) for key in container or {})
    pending = [case.body] if isinstance(case.body, dict | list) else []
    while pending:  # the body's fields, nested ones (a job's params) included
        container = pending.pop()
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for key in keys:
            places.append((container, key, BAD_JSON))
            if isinstance(container[key], dict | list):
                pending.append(container[key])
    if places:
        container, key, values = draw(st.sampled_from(places))
        container[key] = draw(st.sampled_from(values))


def call(case: Case, caller: Caller, aim_at_real_rows: bool) -> None:
    # Waiting is a matter of time, not of input: a fuzzed wait would only slow the run.
    if case.query and "wait" in case.query:
        case.query["wait"] = 0
    if case.headers:
        case.headers.pop("Prefer", None)
    if aim_at_real_rows and case.path_parameters:
        for name in case.path_parameters.keys() & caller.ids.keys():
            case.path_parameters[name] = caller.ids[name]

    response = case.call(headers=caller.headers())
    caller.after(case, response.status_code)

    status = response.status_code
    problem = f"{status}: {response.text[:500]}\n{case.as_curl_command()}"
    if status >= 500:
        # Only one the operation documents (/readyz's 503, in a shape of its own).
        assert str(status) in case.operation.definition.raw.get("responses", {}), problem
    elif status >= 400:
        body: Any = response.json()
        assert isinstance(body, dict) and set(body) == SHAPE, problem
        assert [body["request_id"]] == response.headers.get("x-request-id"), problem


def fuzz(app: Flask, caller: Caller, subtests: pytest.Subtests) -> int:
    """Fuzz every operation as `caller`, one subtest each; how many operations there were."""
    found = operations(app)
    for operation in found:

        @FUZZ_SETTINGS
        @hypothesis.given(case=cases(operation), aim=st.booleans(), data=st.data())
        def run(case: Case, aim: bool, data: st.DataObject) -> None:
            if data.draw(st.booleans()):
                spoil(case, data.draw)
            call(case, caller, aim)

        with subtests.test(operation.label):
            run()
    return len(found)


def test_no_operation_answers_a_member_with_a_5xx(
    fuzz_app: Flask, tx_platform: Platform, session: Session, subtests: pytest.Subtests
) -> None:
    caller = caller_of(fuzz_app, tx_platform, session, admin=False)

    assert fuzz(fuzz_app, caller, subtests) > 50


def test_no_operation_answers_an_admin_with_a_5xx(
    fuzz_app: Flask, tx_platform: Platform, session: Session, subtests: pytest.Subtests
) -> None:
    caller = caller_of(fuzz_app, tx_platform, session, admin=True)

    assert fuzz(fuzz_app, caller, subtests) > 50
