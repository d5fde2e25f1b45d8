"""Who owns batches created from the command line."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

CLI_USERNAME = "cli"


def command_user(username=None):
    User = get_user_model()
    if username:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
    first_admin = User.objects.filter(is_superuser=True).order_by("pk").first()
    if first_admin:
        return first_admin
    user, _ = User.objects.get_or_create(username=CLI_USERNAME, defaults={"is_active": False})
    return user
