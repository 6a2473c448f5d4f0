"""Bearer tokens for the peer, as cheap as Baton's: a signed token checked on every request with one read of the user.

Baton signs `{user id, session version}` with itsdangerous and reads the person on every request (to see that they
are still active and that the session version is current). The peer does the same with Django's own tools: the
token is `django.core.signing` over the user id and `get_session_auth_hash()` (the HMAC of the password hash that
Django's session authentication compares, so a password change ends the token too), and each request reads the
user once. A Django session would cost more (a read of `django_session` besides the user), so this is the fair
and the cheaper choice.
"""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.http import JsonResponse
from django.utils.crypto import constant_time_compare

SALT = "peerflow.token"
MAX_AGE = 12 * 3600  # Baton's BATON_TOKEN_TTL_SECONDS default


def issue_token(user) -> str:
    return signing.dumps({"u": user.pk, "h": user.get_session_auth_hash()}, salt=SALT)


class BearerTokenMiddleware:
    """`Authorization: Bearer <token>` makes `request.user`; a bad token answers 401, no header leaves it anonymous."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user = AnonymousUser()
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            try:
                claims = signing.loads(header[7:], salt=SALT, max_age=MAX_AGE)
            except signing.BadSignature:
                return JsonResponse({"error": "invalid_token"}, status=401)
            user = get_user_model()._default_manager.filter(pk=claims.get("u"), is_active=True).first()
            if user is None or not constant_time_compare(claims.get("h", ""), user.get_session_auth_hash()):
                return JsonResponse({"error": "session_revoked"}, status=401)
            request.user = user
        return self.get_response(request)
