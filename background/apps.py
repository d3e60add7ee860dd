from django.apps import AppConfig


class BackgroundConfig(AppConfig):
    """Background work on Django's Tasks framework: a record per piece of work (who started it,
    its state, progress, result and error), at-least-once running, and the periodic schedule.

    The lowest layer: it knows no domain app, and ``groups``, ``pricing`` and ``billing`` define
    their tasks on it.
    """

    name = "background"
    verbose_name = "Background work"

    def ready(self) -> None:
        from background import periodic

        periodic.register()
