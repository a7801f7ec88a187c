from django.urls import path

from webconsole.audit import apis, views

app_name = "audit"

urlpatterns = [
    path("manage/audit/", views.audit_list_view, name="list"),
    path("manage/audit/export.csv", views.audit_export_view, name="export"),
]

api_urlpatterns = [
    path("audit/", apis.AuditListApi.as_view(), name="api-audit"),
]
