from collections.abc import Iterable

from notifications.models import OutboxEmail


def emails_written(*, keys: Iterable[str]) -> set[str]:
    """Which of these event keys already have an email."""
    return set(OutboxEmail.objects.filter(key__in=list(keys)).values_list("key", flat=True))
