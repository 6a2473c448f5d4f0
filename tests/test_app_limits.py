"""The phone app's form limits are the API's: a title the API takes is never cut short by the form."""
import pathlib
import re

import pytest

APP = pathlib.Path(__file__).resolve().parent.parent / "static" / "src" / "core" / "limits.js"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_apps_limits_match_the_openapi_document(client, backend):
    spec = client.get("/api/v1/openapi.json").json
    create = spec["components"]["schemas"]["WorkOrderCreate"]["properties"]
    limits = {name: int(value) for name, value in re.findall(r"(\w+): (\d+),", APP.read_text(encoding="utf-8"))}
    assert limits == {"workOrderTitle": create["title"]["maxLength"], "workOrderDescription": create["description"]["maxLength"]}
