"""Who is calling: a signed-in person or an integration key (never both)."""
from dataclasses import dataclass

from app.auth.models import ApiKey
from app.org.models import User


@dataclass(frozen=True)
class Principal:
    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def caller_id(self) -> str:
        """A stable identity for idempotency records."""
        return f"user:{self.user.id}" if self.user else f"key:{self.api_key.id}"

    def has_role(self, *roles: str) -> bool:
        return bool(self.user and self.user.has_role(*roles))

    def can(self, permission: str) -> bool:
        return bool(self.user and self.user.can(permission))

    def has_scope(self, scope: str) -> bool:
        return bool(self.api_key and scope in (self.api_key.scopes or []))
