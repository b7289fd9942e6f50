"""The served OpenAPI description, fuzzed with schemathesis over real HTTP: whatever the
path and query parameters and bodies, with or without the token, no answer is a 5xx.

Kill is left out: a fuzzed wait would hold the test for its length, and after it the
other operations would only meet 404s. Bounded to a few examples per operation.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("fastapi")

from squall.runtime.local import LocalCluster
from squall.ui import serve
from tests.ui.ui_topos import numbers

TOKEN = "fuzz-token"


@pytest.fixture(scope="module")
def ui():
    with LocalCluster() as cluster:
        cluster.submit_topology("fuzzed", {}, numbers().build())
        with serve(cluster, port=0, token=TOKEN) as server:
            yield server


def test_no_input_makes_a_server_error(ui):
    schema = schemathesis.openapi.from_url(f"{ui.url}/openapi.json").exclude(path_regex=r"/kill/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15        # the description lists the API, not an empty document
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=8, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def no_server_error(case):
            for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.formatted_path, case.query,
                                                    response.text[:300])

        no_server_error()
