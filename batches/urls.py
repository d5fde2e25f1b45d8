from django.urls import path, re_path

from . import api, api_changes, views, views_history

urlpatterns = [
    path("", views.batch_list, name="batch_list"),
    path("batches/new/", views.batch_new, name="batch_new"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("batches/<int:pk>/status.json", views.batch_status, name="batch_status"),
    # Before batch_action: "Run again" makes a new batch (views_history), same URL as before.
    path("batches/<int:pk>/rerun/", views_history.batch_rerun, name="batch_rerun"),
    path("batches/<int:pk>/repeat/", views_history.batch_repeat, name="batch_repeat"),
    path("batches/<int:pk>/changes/", views_history.batch_changes, name="batch_changes"),
    re_path(r"^batches/(?P<pk>\d+)/changes\.(?P<fmt>csv|jsonl)$", views_history.batch_changes_export,
            name="batch_changes_export"),
    re_path(r"^batches/(?P<pk>\d+)/(?P<action>cancel|retry|rerun)/$", views.batch_action, name="batch_action"),
    path("batches/<int:pk>/delete/", views.batch_delete, name="batch_delete"),
    re_path(r"^batches/(?P<pk>\d+)/urls\.(?P<fmt>csv|jsonl)$", views.batch_export, name="batch_export"),
    re_path(r"^batches/(?P<pk>\d+)/(?P<what>domains|findings)\.(?P<fmt>csv|jsonl)$", views.batch_export,
            name="batch_report"),
    path("batches/<int:pk>/domains/<int:domain_pk>/", views.domain_detail, name="domain_detail"),
    path("batches/<int:pk>/domains/<int:domain_pk>/lastmod.svg", views.domain_chart, name="domain_chart"),
    path("account/", views.account, name="account"),
    path("account/tokens/<int:token_pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("api/batches/", api.batches, name="api_batches"),
    path("api/batches/<int:pk>/", api.batch, name="api_batch"),
    re_path(r"^api/batches/(?P<pk>\d+)/(?P<what>urls|domains|findings)\.(?P<fmt>csv|jsonl)$", api.batch_export,
            name="api_batch_export"),
    path("api/batches/<int:pk>/rerun/", api.batch_action, {"action": "rerun"}, name="api_batch_rerun"),
    re_path(r"^api/batches/(?P<pk>\d+)/(?P<action>cancel|retry|rerun)/$", api.batch_action, name="api_batch_action"),
    path("api/batches/<int:pk>/changes/", api_changes.changes, name="api_batch_changes"),
    # Without the slash too: a redirect would lose a POST's body.
    path("api/batches", api.batches),
    path("api/batches/<int:pk>", api.batch),
    re_path(r"^api/batches/(?P<pk>\d+)/(?P<action>cancel|retry|rerun)$", api.batch_action),
    re_path(r"^api/", api.not_found),
]
