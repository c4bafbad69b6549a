"""Property-based fuzzing of the real server against its own OpenAPI schema (schemathesis): for
generated valid (positive) and invalid (negative) requests to every documented operation, with and
without the admin token (which is also the events token here, so POST /events writes to a log of the
test's own; the demo page's routes are on): no 5xx, and every response matches the documented status
codes, headers, content types and bodies. Bounded: FUZZ_EXAMPLES per operation and mode, derandomized."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.serving import ADMIN, ADMIN_TOKEN, running_server

FUZZ_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed_server(trained_version, tmp_path_factory):
    events = tmp_path_factory.mktemp("fuzz-events") / "events.db"
    with running_server(trained_version.parent, events_token=ADMIN_TOKEN, events_url=f"sqlite:///{events}",
                        demo_page="true") as server:
        yield server


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("headers", [None, ADMIN], ids=["anonymous", "admin"])
def test_every_operation_answers_as_documented(fuzzed_server, mode, headers):
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/recommend/{user_id}", "/session/next", "/predict-rating", "/admin/reload", "/events",
            "/users/{user_id}/events", "/items", "/users/{user_id}/history", "/models/plots/{name}"} <= \
        {operation.path for operation in operations}
    for operation in operations:
        has_inputs = any(len(inputs) for inputs in (operation.path_parameters, operation.query, operation.body))
        if mode is GenerationMode.NEGATIVE and not has_inputs:
            continue  # nothing to get wrong
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def answers_as_documented(case):
            case.call_and_validate(headers=headers, timeout=30)

        try:
            answers_as_documented()
        except Exception as error:
            error.add_note(f"operation: {operation.method.upper()} {operation.path}")
            raise
