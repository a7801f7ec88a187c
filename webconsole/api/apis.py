"""API tokens and the signed-in user: one class per operation, nested input/output serializers."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from webconsole.api import selectors, services
from webconsole.api.access import get_visible_or_404
from webconsole.api.authentication import client_address
from webconsole.api.fields import StrictCharField
from webconsole.api.models import ApiToken
from webconsole.api.query import check_query


class TokenOutputSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)

    class Meta:
        model = ApiToken
        fields = ("id", "name", "prefix", "status", "created_at", "expires_at", "last_used_at",
                  "last_used_address", "revoked_at")


class TokenCreatedSerializer(TokenOutputSerializer):
    token = serializers.CharField(help_text="The secret token. It is shown this once and never again.")

    class Meta(TokenOutputSerializer.Meta):
        fields = (*TokenOutputSerializer.Meta.fields, "token")


class TokenListCreateApi(generics.ListAPIView):
    """GET: your API tokens, newest first (their secrets are never shown again). POST: a new
    token, whose secret is in this answer only."""

    serializer_class = TokenOutputSerializer

    def get_queryset(self):
        check_query(self.request, ())
        return selectors.token_list(user=self.request.user)

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=100)
        expires_at = serializers.DateTimeField(required=False, allow_null=True,
                                               help_text="When it stops working; none: never.")

    @extend_schema(request=InputSerializer, responses={201: TokenCreatedSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.token_create(user=request.user, address=client_address(request), **data.validated_data)
        body = TokenOutputSerializer(made.token).data | {"token": made.value}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(responses=TokenOutputSerializer)
    def get(self, request, token_id: int):
        token = get_visible_or_404(ApiToken.objects.all(), request.user, owner_field="user", what="token",
                                   pk=token_id)
        return Response(TokenOutputSerializer(token).data)


class TokenRevokeApi(APIView):
    """Revoke a token: it stops working at once. Staff may revoke anyone's."""

    @extend_schema(request=None, responses=TokenOutputSerializer)
    def post(self, request, token_id: int):
        token = get_visible_or_404(ApiToken.objects.all(), request.user, owner_field="user", what="token",
                                   pk=token_id)
        token = services.token_revoke(token=token, actor=request.user, address=client_address(request))
        return Response(TokenOutputSerializer(token).data)


class MeApi(APIView):
    """The signed-in user, and how they signed in."""

    class OutputSerializer(serializers.ModelSerializer):
        groups = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
        auth = serializers.SerializerMethodField()

        class Meta:
            model = get_user_model()
            fields = ("id", "username", "first_name", "last_name", "email", "is_staff", "is_superuser",
                      "date_joined", "last_login", "groups", "auth")

        def get_auth(self, user) -> str:
            request = self.context["request"]
            return "token" if isinstance(request.auth, ApiToken) else "basic" if request.auth is None \
                and request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("basic ") else "session"

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(request.user, context={"request": request}).data)
