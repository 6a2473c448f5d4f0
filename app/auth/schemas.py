"""Sign-in and API key bodies."""
import marshmallow as ma
from marshmallow import validate

from app.auth.models import Scope
from app.org.schemas import UserSchema


class LoginSchema(ma.Schema):
    login = ma.fields.String(required=True, validate=validate.Length(1, 64))
    password = ma.fields.String(required=True, load_only=True, validate=validate.Length(1, 200))


class TokenSchema(ma.Schema):
    token = ma.fields.String()
    expires_in = ma.fields.Integer()
    user = ma.fields.Nested(UserSchema)


class ApiKeySchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(required=True, validate=validate.Length(1, 200))
    scopes = ma.fields.List(ma.fields.String(validate=validate.OneOf([s.value for s in Scope])), required=True)
    prefix = ma.fields.String(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    revoked_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    key = ma.fields.String(dump_only=True, metadata={"description": "The secret; shown only in this answer."})
