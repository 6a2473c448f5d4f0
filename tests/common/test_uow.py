"""One use case, one transaction: nested units of work join the outer one; a failure anywhere writes nothing."""
import pytest
from sqlalchemy import func, select

from app.common.uow import in_unit_of_work, unit_of_work
from app.extensions import db
from app.org.models import Department


def _departments() -> int:
    return db.session.scalar(select(func.count()).select_from(Department))


def test_the_outermost_unit_commits_and_an_inner_one_only_flushes(app):
    with unit_of_work():
        with unit_of_work():
            db.session.add(Department(code="IN", name="Inner"))
        assert in_unit_of_work()
        db.session.add(Department(code="OUT", name="Outer"))
    assert not in_unit_of_work()
    db.session.rollback()  # nothing left to roll back: both were committed by the outer block
    assert _departments() == 2


def test_a_failure_after_an_inner_unit_writes_nothing(app):
    with pytest.raises(RuntimeError):
        with unit_of_work():
            with unit_of_work():
                db.session.add(Department(code="IN", name="Inner"))  # an inner use case, done
            raise RuntimeError("the rest of the outer use case failed")
    assert not in_unit_of_work()
    assert _departments() == 0


def test_an_inner_failure_propagates_and_rolls_the_outer_back(app):
    with pytest.raises(ValueError):
        with unit_of_work():
            db.session.add(Department(code="OUT", name="Outer"))
            with unit_of_work():
                raise ValueError("inner")
    assert _departments() == 0
    with unit_of_work():  # the session is usable again, at depth zero
        db.session.add(Department(code="AGAIN", name="Again"))
    assert _departments() == 1
