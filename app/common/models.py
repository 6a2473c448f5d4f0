"""Column helpers shared by every domain's models."""
from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

from app.common.clock import utcnow
from app.common.types import UTCDateTime

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

__all__ = ["JSONType", "UTCDateTime", "utcnow"]
