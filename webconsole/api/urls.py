from django.urls import path

from webconsole.api import apis, views

app_name = "tokens"

urlpatterns = [
    path("account/tokens/", views.token_list_view, name="list"),
    path("account/tokens/<int:token_id>/revoke", views.token_revoke_view, name="revoke"),
]

api_urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="api-me"),
    path("tokens/", apis.TokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", apis.TokenDetailApi.as_view(), name="api-token"),
    path("tokens/<int:token_id>/revoke", apis.TokenRevokeApi.as_view(), name="api-token-revoke"),
]
