from django.apps import AppConfig


class PresetsConfig(AppConfig):
    name = "presets"
    verbose_name = "Presets"

    def ready(self) -> None:
        from presets import row_copies  # noqa: F401  (its receivers)
