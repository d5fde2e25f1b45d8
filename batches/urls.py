from django.urls import path

from . import views

urlpatterns = [
    path("", views.batch_list, name="batch_list"),
    path("batches/new/", views.batch_new, name="batch_new"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("batches/<int:pk>/status.json", views.batch_status, name="batch_status"),
    path("batches/<int:pk>/domains/<int:domain_pk>/", views.domain_detail, name="domain_detail"),
]
