"""A Content-Security-Policy header on our own pages (Django 5.2 has none built in).

Scripts, styles and images come from our origin only, so markup injected into a page (a
hostile sitemap's URL shown in a table) cannot run a script even if escaping ever failed.
The admin keeps Django's own headers: its templates are not ours to hold to this policy.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = "/admin/"

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(self.admin_prefix) and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response
