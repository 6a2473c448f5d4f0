"""marshmallow fields shared by the API schemas."""
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import marshmallow as ma

from app.common.ids import MAX_ID


class StrictBoolean(ma.fields.Boolean):
    """true or false in a JSON body, as JSON booleans only.

    marshmallow's Boolean also takes "yes", "on", 1 and "0"; a request body that sends those is a client bug
    worth a 422, not a guess. Query-string flags (`?unread=true`) keep the lenient Boolean, since query
    strings have no booleans.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class PersonReference(ma.fields.Field):
    """A person named by id (an integer) or by login (text), as people type them: answers the int or the text.

    Documented as either in the OpenAPI document; the service looks the person up (`org.service.find_person`).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("description", "The person's id, or their login")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_ID:
                raise ma.ValidationError("no such person")
            return value
        if isinstance(value, str) and 1 <= len(value.strip()) <= 64:
            return value.strip()
        raise ma.ValidationError("give the person's id or login")


def known_timezone(name: str) -> None:
    """A validator: an IANA time zone this machine knows (an unknown one would only fail later, when a time is
    shown, quiet hours are held or working time is counted)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ma.ValidationError("Unknown time zone; use an IANA name such as Asia/Shanghai.")
