from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from webconsole.api.mount import api_urlpatterns
from webconsole.core.health import HealthApi
from webconsole.core.metrics import metrics

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="desktops:list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("desktops/", include("webconsole.desktops.urls")),
    path("desktops/", include("webconsole.viewer.urls")),
    path("desktops/", include("webconsole.dashboard.urls")),
    path("", include("webconsole.sharing.urls")),
    path("", include("webconsole.recordings.urls")),
    path("", include("webconsole.api.urls")),
    path("", include("webconsole.audit.urls")),
    # The API: every app's ``api_urlpatterns`` (webconsole/api/mount.py), versioned; the
    # unversioned mount serves the same views to clients written before /api/v1/.
    path("api/v1/health/", HealthApi.as_view(), name="health"),
    path("api/v1/", include((api_urlpatterns(), "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from drf-spectacular-sidecar's files; drf-spectacular's Redoc page is not
    # offered: it loads fonts from a third party.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
         name="api-docs"),
    path("api/", include((api_urlpatterns(), "api-legacy"))),
    path("manage/", include("webconsole.policies.urls")),
    path("metrics", metrics, name="metrics"),
]

handler400 = "webconsole.api.errors.bad_request"
handler404 = "webconsole.api.errors.not_found"
handler500 = "webconsole.api.errors.server_error"
