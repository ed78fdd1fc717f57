from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy"

    def ready(self) -> None:
        from chatpresets import browser_middleware, strict_strings  # noqa: F401  (its deployment checks)
        from tenancy import login_guard, schema, signals  # noqa: F401  (registers the receivers and the schema extension)

        strict_strings.install()  # once, for every app's serializers
