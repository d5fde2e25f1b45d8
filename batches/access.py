"""Who may do what to a batch, and who a request is: one set of rules for pages, exports and API.

A batch belongs to its owner. Anyone else needs Django's model permission for the act:
view_batch (or change_batch) to read it, change_batch to cancel, retry or run it again,
delete_batch to delete it. `is_staff` alone only opens the admin; it grants nothing here.
"""

from datetime import timedelta
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.db.models import Q
from django.http import JsonResponse
from django.utils import timezone

from .models import ApiToken, Batch

PERMISSIONS = {"view": "batches.view_batch", "change": "batches.change_batch", "delete": "batches.delete_batch"}
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def may_see_all(user):
    return user.has_perm(PERMISSIONS["view"]) or user.has_perm(PERMISSIONS["change"])


def visible_batch(user, pk):
    """The batch `user` may see, or None; an owner's own batch costs no permission query."""
    batch = Batch.objects.filter(pk=pk).first()
    return batch if batch is not None and may(user, batch, "view") else None


def may(user, batch, act):
    """Whether `user` may `act` ("view", "change", "delete") on `batch`."""
    if batch.owner_id == user.pk:
        return True
    if act == "view":
        return may_see_all(user)
    return user.has_perm(PERMISSIONS[act])


def user_from_token(request):
    """The user a Bearer token belongs to, None for no header, False for a bad token."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return False
    token = ApiToken.objects.select_related("user").filter(digest=ApiToken.hash(key.strip())).first()
    if token is None or not token.user.is_active:
        return False
    # Record use at most once a minute, so polling does not write on every request.
    now = timezone.now()
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOKEN_TOUCH_INTERVAL), pk=token.pk
    ).update(last_used_at=now)
    return token.user


def token_401(message="invalid API token", error="invalid_token"):
    response = JsonResponse({"error": message}, status=401)
    response["WWW-Authenticate"] = f'Bearer realm="api", error="{error}"' if error else 'Bearer realm="api"'
    return response


def login_or_token_required(view):
    """A page or download that a logged-in browser or an API token may read.

    Only safe methods accept the token: a token never bypasses the CSRF check of a form post.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.headers.get("Authorization") and request.method in ("GET", "HEAD"):
            user = user_from_token(request)
            if not user:
                return token_401()
            request.user = user
        elif not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper
