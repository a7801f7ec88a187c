from django.urls import path

from webconsole.policies import apis, views

app_name = "manage"

urlpatterns = [
    path("users/", views.user_list_view, name="users"),
    path("users/<int:user_id>/", views.user_detail_view, name="user"),
    path("users/<int:user_id>/active", views.user_active_view, name="user-active"),
    path("users/<int:user_id>/password", views.user_password_view, name="user-password"),
    path("users/<int:user_id>/groups", views.user_groups_view, name="user-groups"),
    path("users/<int:user_id>/policy", views.user_policy_view, name="user-policy"),
    path("users/<int:user_id>/delete", views.user_delete_view, name="user-delete"),
    path("groups/", views.group_list_view, name="groups"),
    path("groups/<int:group_id>/", views.group_detail_view, name="group"),
    path("groups/<int:group_id>/members", views.group_members_view, name="group-members"),
    path("groups/<int:group_id>/policy", views.group_policy_view, name="group-policy"),
    path("groups/<int:group_id>/delete", views.group_delete_view, name="group-delete"),
    path("profiles/", views.profile_list_view, name="profiles"),
    path("profiles/<int:profile_id>/", views.profile_detail_view, name="profile"),
    path("profiles/<int:profile_id>/delete", views.profile_delete_view, name="profile-delete"),
]

# Mounted under /api/ (and /api/v1/) in the "api" namespace.
api_urlpatterns = [
    path("users/", apis.UserListApi.as_view(), name="api-users"),
    path("users/<int:user_id>/", apis.UserDetailApi.as_view(), name="api-user"),
    path("users/<int:user_id>/password", apis.UserPasswordApi.as_view(), name="api-user-password"),
    path("users/<int:user_id>/policy", apis.UserPolicyApi.as_view(), name="api-user-policy"),
    path("groups/", apis.GroupListApi.as_view(), name="api-groups"),
    path("groups/<int:group_id>/", apis.GroupDetailApi.as_view(), name="api-group"),
    path("groups/<int:group_id>/policy", apis.GroupPolicyApi.as_view(), name="api-group-policy"),
    path("profiles/", apis.ProfileListApi.as_view(), name="api-profiles"),
    path("profiles/<int:profile_id>/", apis.ProfileDetailApi.as_view(), name="api-profile"),
]
