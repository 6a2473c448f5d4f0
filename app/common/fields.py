"""marshmallow fields shared by the API schemas."""
import marshmallow as ma


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
