from tests.common.conftest import app_with_routes  # noqa: F401  (shared fixture)
