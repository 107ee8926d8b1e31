"""Account views of the interop test project (tests/interop/test_django_auth.py):
what a Django site gives its users to log in with, as JSON.

- POST /accounts/register/ {username, password}: a user (test set-up only);
- POST /accounts/login/ {username, password}: django.contrib.auth.login, as
  LoginView does on success (the session cookie);
- POST /accounts/password/ {password} (logged in): set_password + save, without
  update_session_auth_hash, as a password change elsewhere would (other
  sessions, this one included, end);
- POST /accounts/deactivate/ (logged in): is_active = False;
- POST /accounts/token/: DRF's obtain_auth_token;
- POST /accounts/jwt/: SimpleJWT's TokenObtainPairView.

No CsrfViewMiddleware runs in this project (settings.MIDDLEWARE), so the JSON
views need no CSRF token."""
import json

from django.contrib.auth import authenticate, get_user_model, login
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework_simplejwt.views import TokenObtainPairView


def _body(request):
    return json.loads(request.body or b"{}")


@csrf_exempt
@require_POST
def register(request):
    b = _body(request)
    user = get_user_model().objects.create_user(b["username"], password=b["password"])
    return JsonResponse({"id": user.id, "username": user.username}, status=201)


@csrf_exempt
@require_POST
def login_view(request):
    b = _body(request)
    user = authenticate(request, username=b["username"], password=b["password"])
    if user is None:
        return JsonResponse({"error": "invalid credentials"}, status=400)
    login(request, user)
    return JsonResponse({"id": user.id, "username": user.username})


def _logged_in(request):
    return request.user if request.user.is_authenticated else None


@csrf_exempt
@require_POST
def password(request):
    user = _logged_in(request)
    if user is None:
        return JsonResponse({"error": "not logged in"}, status=401)
    user.set_password(_body(request)["password"])
    user.save()
    return JsonResponse({"changed": True})


@csrf_exempt
@require_POST
def deactivate(request):
    user = _logged_in(request)
    if user is None:
        return JsonResponse({"error": "not logged in"}, status=401)
    user.is_active = False
    user.save()
    return JsonResponse({"deactivated": True})


urlpatterns = [
    path("accounts/register/", register),
    path("accounts/login/", login_view),
    path("accounts/password/", password),
    path("accounts/deactivate/", deactivate),
    path("accounts/token/", obtain_auth_token),
    path("accounts/jwt/", TokenObtainPairView.as_view()),
]
