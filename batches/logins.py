"""The login page, with a limit on wrong passwords.

After LOGIN_FAILURES wrong passwords for one username, or ADDRESS_FAILURES from one client
address, within LOGIN_WINDOW seconds, every attempt for it is refused (the right password
included) until the window has passed: guessing runs at a few tries per quarter hour. The
counters live in the shared cache, so every web process counts the same attempts.
"""

import hashlib

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError

LOGIN_FAILURES = 10
ADDRESS_FAILURES = 50
LOGIN_WINDOW = 15 * 60
REFUSED = "Too many failed logins: try again in {minutes} minutes."


def _keys(request, username):
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    address = request.META.get("REMOTE_ADDR", "")
    return {f"login-fail:user:{name}": LOGIN_FAILURES, f"login-fail:addr:{address}": ADDRESS_FAILURES}


class ThrottleMixin:
    def clean(self):
        keys = _keys(self.request, self.cleaned_data.get("username") or "")
        counts = cache.get_many(list(keys))
        if any(counts.get(key, 0) >= limit for key, limit in keys.items()):
            raise ValidationError(REFUSED.format(minutes=LOGIN_WINDOW // 60), code="throttled")
        try:
            return super().clean()
        except ValidationError:
            _count_failure(keys)
            raise


def _count_failure(keys):
    for key in keys:
        # add() starts the window at the first failure; incr() keeps its expiry.
        if not cache.add(key, 1, LOGIN_WINDOW):
            try:
                cache.incr(key)
            except ValueError:  # expired between the two calls
                cache.add(key, 1, LOGIN_WINDOW)


class ThrottledAuthenticationForm(ThrottleMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottleMixin, AdminAuthenticationForm):
    """The admin's login page counts the same failures."""


class ThrottledLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
