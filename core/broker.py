"""Publishing tasks after commit: no broker call inside a transaction."""

import logging
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args, countdown: float | None = None) -> None:
    """Publish `task(*args)` once the surrounding transaction commits (to run
    `countdown` seconds later, if given; in-process runs it at once).

    A publish that fails (broker down) is logged, not raised: the row it is about is
    already committed, and the beat sweep enqueues it again later. The user's request
    has succeeded and must say so.
    """
    transaction.on_commit(partial(_publish, task, args, countdown), robust=True)


def _publish(task, args, countdown) -> None:
    try:
        task.apply_async(args, countdown=countdown)
    except Exception:
        # In-process (no broker) the task runs here, so this is also its own failure.
        logger.exception(
            "could not enqueue (or, in-process, run) %s%r; the sweep will retry it",
            task.name,
            args,
        )
