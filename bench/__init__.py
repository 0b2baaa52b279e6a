"""Benchmarks of the store on PostgreSQL: figures and ratios measured side by side in
one run, each printed with its target and PASS or MISS (run with `make bench`).

- restock_fill: a receipt serving a 20,000-line back-order queue, against a hand-written
  set-based SQL floor doing the same writes (target: store ≤ 2.0x the floor).
- checkout_contention: real HTTP checkouts through gunicorn, 16 clients on one hot
  product against 16 clients on 16 products (target: hot ≥ 0.8x spread), no oversell.
- email_delivery: 20,000 outbox emails delivered by two Celery worker processes through
  Redis to a local SMTP sink (target: ≥ 500 emails/s), each exactly once.

Each benchmark creates and drops its own database (`storefront_bench_<name>`); shared
plumbing is in bench.harness. These are measurements, not tests: nothing here asserts a
timing.
"""
