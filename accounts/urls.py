from django.contrib.auth import views as auth_views
from django.urls import path, re_path

import incidents.urls  # noqa: F401 - registers the ``reference`` path converter

from . import audit_views, views

urlpatterns = [
    # Django's LoginView takes PUT as POST; the form is only ever posted.
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, http_method_names=["get", "head", "post"]),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The audit log (auditors and admins): accounts.audit_views.
    path("audit/", audit_views.audit_log, name="audit-log"),
    re_path(r"^audit/export\.(?P<format>csv|jsonl)$", audit_views.audit_export, name="audit-export"),
]

# Second factor and vendor-collaborator invitations (accounts.mfa, accounts.invitations). The
# names exempt from the second-factor middleware are listed in accounts.middleware.EXEMPT_URL_NAMES.
urlpatterns += [
    path("mfa/enrol/", views.mfa_enrol, name="mfa-enrol"),
    path("mfa/verify/", views.mfa_verify, name="mfa-verify"),
    path("mfa/recovery-codes/", views.recovery_codes, name="mfa-recovery-codes"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("incidents/<reference:reference>/invite/", views.invite, name="invite"),
    path(
        "incidents/<reference:reference>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
]
