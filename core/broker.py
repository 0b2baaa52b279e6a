"""Publishing tasks after commit: no broker call inside a transaction."""

import logging
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, *args) -> None:
    """Publish `task(*args)` once the surrounding transaction commits.

    A publish that fails (broker down) is logged, not raised: the row it is about is
    already committed, and the beat sweep enqueues it again later. The user's request
    has succeeded and must say so.
    """
    transaction.on_commit(partial(_publish, task, args), robust=True)


def _publish(task, args) -> None:
    try:
        task.delay(*args)
    except Exception:
        logger.exception("could not enqueue %s%r; the sweep will retry it", task.name, args)
