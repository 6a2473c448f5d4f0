"""The CSV export works out only what its section needs: the same tables as from a whole summary, on both databases."""
import pytest

from tests.metrics.conftest import summary_for

SECTIONS = ("groups", "steps", "pareto", "tags", "backlog", "escalations", "scores")


@pytest.mark.parametrize("login, group_by", [("admin", None), ("admin", "week"), ("admin", "department"), ("mgr.ops", "category"),
                                             ("mgr.dlv", "day")])
def test_each_section_is_the_same_as_from_the_whole_summary(week, demo, login, group_by):
    from app.metrics.export import summary_csv
    from app.metrics.summary import SECTION_PARTS

    whole = summary_for(login, demo, group_by=group_by)
    for section in SECTIONS:
        part = summary_for(login, demo, group_by=group_by, parts=SECTION_PARTS[section])
        assert summary_csv(part, section) == summary_csv(whole, section), section


def test_every_section_names_what_it_needs():
    from app.metrics.schemas import EXPORT_SECTIONS
    from app.metrics.summary import PARTS, SECTION_PARTS

    assert set(SECTION_PARTS) == set(EXPORT_SECTIONS)
    assert all(needs and needs <= PARTS for needs in SECTION_PARTS.values())
