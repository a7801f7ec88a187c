from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from webconsole.core.health import health
from webconsole.core.metrics import metrics
from webconsole.desktops.urls import api_urlpatterns
from webconsole.policies.urls import api_urlpatterns as policy_api_urlpatterns
from webconsole.recordings.urls import api_urlpatterns as recording_api_urlpatterns

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
    path("manage/", include("webconsole.policies.urls")),
    path("api/", include((api_urlpatterns + recording_api_urlpatterns + policy_api_urlpatterns, "api"))),
    path("api/v1/health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
]

