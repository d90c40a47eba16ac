from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API keys"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save, pre_save

        from config.middleware import start_idle_clock

        from . import signals
        from .models import User

        # The audit log's receivers (accounts.audit): sign-ins and permission changes.
        user_logged_in.connect(signals.logged_in, dispatch_uid="audit_logged_in")
        user_logged_out.connect(signals.logged_out, dispatch_uid="audit_logged_out")
        user_login_failed.connect(signals.login_failed, dispatch_uid="audit_login_failed")
        pre_save.connect(signals.user_before_save, sender=User, dispatch_uid="audit_user_before_save")
        post_save.connect(signals.user_saved, sender=User, dispatch_uid="audit_user_saved")
        # The idle-session clock starts at login, in the session write the login makes anyway.
        user_logged_in.connect(start_idle_clock, dispatch_uid="breachline-session-idle-clock")
