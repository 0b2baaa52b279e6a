import datetime
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from notifications.models import OutboxEmail


def emails_written(*, keys: Iterable[str]) -> set[str]:
    """Which of these event keys already have an email."""
    return set(OutboxEmail.objects.filter(key__in=list(keys)).values_list("key", flat=True))


def emails_overdue_count(*, by: datetime.timedelta) -> int:
    """Emails that should have gone out more than `by` ago and have not: pending past
    their due time, or claimed by a worker and never finished."""
    cutoff = timezone.now() - by
    return OutboxEmail.objects.filter(
        Q(status=OutboxEmail.Status.PENDING, next_attempt_at__lt=cutoff)
        | Q(status=OutboxEmail.Status.SENDING, claimed_at__lt=cutoff)
    ).count()
