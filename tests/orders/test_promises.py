"""The promise made at checkout and the estimate kept since (issue 8): dates backed by
confirmed inbounds, changes told once to exactly those affected, delays answered."""

import datetime

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from backorders.services import (
    inbound_announce,
    inbound_cancel,
    inbound_receive,
    inbound_revise,
    stock_receive,
)
from catalog.models import Inbound
from catalog.policy import BackorderPolicy
from orders.models import DelayNotice, OrderLine
from orders.promises import line_etas_refresh
from orders.services import (
    delay_notices_expire,
    order_cancel_backorders,
    order_lines_move_to_front,
    order_place,
)
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


def sent(event_subject: str) -> list:
    return [m for m in mail.outbox if event_subject in m.subject]


def line_of(order) -> OrderLine:
    return order.lines.get()


@pytest.fixture
def mug(db):
    return product_create(sku="MUG", name="Camp mug")


def announce(product, quantity, in_days, reference, run_on_commit):
    return run_on_commit(
        inbound_announce,
        product=product,
        quantity=quantity,
        expected_date=days(in_days),
        reference=reference,
    )


def test_covered_partly_covered_and_uncovered_lines_get_their_promise(mug, run_on_commit):
    announce(mug, 3, 10, "PO-1", run_on_commit)
    covered = order_create({mug: 2})
    partly = order_create({mug: 2})  # units 3–4: only one arrives with PO-1
    announce(mug, 1, 20, "PO-2", run_on_commit)
    beyond = order_create({mug: 1})  # unit 5: no supply for it
    assert (line_of(covered).eta, line_of(covered).promised_by) == (days(10), days(12))
    # Placed before PO-2 existed: no date then, so the 30-day default was promised;
    # PO-2 now dates it (within that promise).
    assert (line_of(partly).eta, line_of(partly).promised_by) == (days(20), days(30))
    assert (line_of(beyond).eta, line_of(beyond).promised_by) == (None, days(30))


def test_status_json_shows_the_promise_beside_the_eta(client, mug, run_on_commit):
    announce(mug, 5, 10, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    data = client.get(f"/orders/{order.token}/status.json").json()
    assert data["awaiting_consent"] is False
    assert data["lines"][0]["eta"] == days(10).isoformat()
    assert data["lines"][0]["promised_by"] == days(12).isoformat()


def test_checkout_shows_eta_and_promise_beside_the_consent(client, mug, run_on_commit):
    announce(mug, 2, 10, "PO-1", run_on_commit)
    client.post("/cart/add/", {"product_id": mug.pk, "quantity": 2})
    page = client.get("/checkout/").content.decode()
    assert f"expected by {days(10):%-d %b}; we promise to ship by {days(12):%-d %b}" in page
    client.post("/cart/update/", {"product_id": mug.pk, "quantity": 3})  # one beyond supply
    page = client.get("/checkout/").content.decode()
    assert f"no confirmed date yet; if we cannot ship by {days(30):%-d %b}" in page


def test_a_date_within_the_promise_tells_exactly_those_whose_date_moved(mug, run_on_commit):
    first = announce(mug, 1, 5, "PO-1", run_on_commit)
    early = order_create({mug: 1}, email="early@example.com")  # eta 5, promise 7
    late = order_create({mug: 1}, email="late@example.com")  # no date: promise 30
    mail.outbox.clear()
    announce(mug, 1, 9, "PO-2", run_on_commit)  # dates the second order only
    (message,) = sent("New expected date")
    assert message.to == ["late@example.com"]
    assert f"now expected by {days(9):%-d %B %Y}" in message.body
    assert (line_of(late).eta, line_of(late).promised_by) == (days(9), days(30))
    mail.outbox.clear()
    run_on_commit(inbound_revise, inbound=first, expected_date=days(4))  # earlier
    (message,) = sent("New expected date")
    assert message.to == ["early@example.com"]
    assert line_of(early).eta_told == days(4) and line_of(early).promised_by == days(7)
    assert not DelayNotice.objects.exists()


def test_a_slip_inside_the_handling_days_is_a_delay(mug, run_on_commit):
    inbound = announce(mug, 1, 5, "PO-1", run_on_commit)
    order_create({mug: 1})  # arrives day 5, promised by day 7
    mail.outbox.clear()
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(6))  # ships by 8
    assert not sent("New expected date")
    notice = DelayNotice.objects.get()
    assert (notice.revised_date, notice.needs_consent) == (days(8), False)


def test_several_edits_in_the_batch_window_tell_a_customer_once(
    mug, run_on_commit, settings, monkeypatch
):
    settings.PROMISE_CHANGE_BATCH_SECONDS = 60
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    mail.outbox.clear()
    for day in (8, 9, 7):
        run_on_commit(inbound_revise, inbound=inbound, expected_date=days(day))
    assert not sent("New expected date")  # still settling
    assert line_of(order).eta == days(7)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=61)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    from orders.promises import promises_keep

    run_on_commit(promises_keep, product_id=mug.pk)
    run_on_commit(promises_keep, product_id=mug.pk)  # a second run tells nobody again
    (message,) = sent("New expected date")
    assert f"now expected by {days(7):%-d %B %Y}" in message.body


def test_a_first_short_definite_delay_sends_a_notice_where_silence_is_consent(
    client, mug, run_on_commit
):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order = order_create({mug: 1})  # promised by day 12
    mail.outbox.clear()
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(20))
    (message,) = sent("is delayed")
    assert f"ship it by {days(22):%-d %B %Y}" in message.body
    assert "you need do nothing" in message.body
    notice = DelayNotice.objects.get()
    assert (notice.promised_by, notice.revised_date, notice.needs_consent) == (
        days(12),
        days(22),
        False,
    )
    assert client.get(f"/orders/{order.token}/status.json").json()["awaiting_consent"] is True
    page = client.get(f"/orders/{order.token}/").content.decode()
    assert "Wait for" in page and "for a full refund" in page


def test_a_long_or_undated_delay_needs_consent_or_is_cancelled(mug, run_on_commit):
    inbound = announce(mug, 2, 10, "PO-1", run_on_commit)
    order_create({mug: 1})
    run_on_commit(inbound_cancel, inbound=inbound)  # no date any more
    notice = DelayNotice.objects.get()
    assert notice.revised_date is None and notice.needs_consent
    assert notice.answer_by == days(12)
    (message,) = sent("is delayed")
    assert f"Please answer by {days(12):%-d %B %Y}" in message.body


def test_a_delay_more_than_30_days_needs_express_consent(mug, run_on_commit):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order_create({mug: 1})
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(50))
    assert DelayNotice.objects.get().needs_consent


def test_waiting_makes_the_revised_date_the_promise_and_a_second_delay_needs_consent(
    client, mug, run_on_commit
):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(15))
    notice = DelayNotice.objects.get()
    url = f"/orders/{order.token}/delays/{notice.pk}/"
    assert client.post(url, {"answer": "wait"}).status_code == 302
    assert client.post(url, {"answer": "wait"}).status_code == 302  # safe to repeat
    line = line_of(order)
    assert line.promised_by == days(17) and line.backordered == 1
    notice.refresh_from_db()
    assert (notice.outcome, notice.decided_by) == ("wait", "customer")
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(14))  # within: news
    assert not DelayNotice.objects.filter(outcome="").exists()
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(16))  # second delay
    second = DelayNotice.objects.get(outcome="")
    assert second.needs_consent and second.promised_by == days(17)


def test_cancelling_from_the_notice_releases_the_place_and_dates_the_next(
    client, mug, run_on_commit
):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    first = order_create({mug: 1}, email="first@example.com")
    second = order_create({mug: 1}, email="second@example.com")  # beyond supply
    assert line_of(second).eta is None
    mail.outbox.clear()
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(40))
    notice = DelayNotice.objects.get(line__order=first)
    url = f"/orders/{first.token}/delays/{notice.pk}/"
    response = run_on_commit(client.post, url, {"answer": "cancel"})
    assert response.status_code == 302
    assert line_of(first).cancelled == 1 and line_of(first).backordered == 0
    assert line_of(second).eta == days(40)  # the released unit now dates the next
    page = client.post(url, {"answer": "wait"}, follow=True).content.decode()
    assert "This delay was settled already" in page
    assert line_of(first).cancelled == 1  # a late "wait" changes nothing


def test_a_notice_answer_needs_the_orders_token_and_a_known_answer(client, mug, run_on_commit):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    other = order_create({mug: 1}, email="other@example.com")
    run_on_commit(inbound_cancel, inbound=inbound)
    notice = DelayNotice.objects.get(line__order=order)
    assert (
        client.post(f"/orders/{order.token}/delays/{notice.pk}/", {"answer": "x"}).status_code
        == 400
    )
    assert client.get(f"/orders/{order.token}/delays/{notice.pk}/").status_code == 405
    client.post(f"/orders/{other.token}/delays/{notice.pk}/", {"answer": "cancel"})
    notice.refresh_from_db()
    assert notice.is_open and line_of(order).backordered == 1


def test_unanswered_notices_expire_by_their_kind(mug, run_on_commit, monkeypatch):
    short = announce(mug, 1, 10, "PO-1", run_on_commit)
    silent = order_create({mug: 1}, email="silent@example.com")
    run_on_commit(inbound_revise, inbound=short, expected_date=days(20))  # silence ok
    pan = product_create(sku="PAN", name="Pan")
    gone = announce(pan, 1, 10, "PO-2", run_on_commit)
    strict = order_create({pan: 1}, email="strict@example.com")
    run_on_commit(inbound_cancel, inbound=gone)  # needs an answer
    mail.outbox.clear()
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a: days(13))
    consented, cancelled = run_on_commit(delay_notices_expire)
    assert (consented, cancelled) == (1, 1)
    assert line_of(silent).promised_by == days(22) and line_of(silent).backordered == 1
    line = line_of(strict)
    assert (line.backordered, line.cancelled) == (0, 1)
    (message,) = sent("Back-order cancelled")
    assert message.to == ["strict@example.com"] and "did not hear from you" in message.body
    outcomes = dict(DelayNotice.objects.values_list("line__order__email", "outcome"))
    assert outcomes == {"silent@example.com": "silence", "strict@example.com": "auto_cancelled"}
    assert run_on_commit(delay_notices_expire) == (0, 0)  # a rerun settles nothing twice


def test_an_undated_line_gets_its_notice_before_the_default_promise(
    mug, run_on_commit, monkeypatch, settings
):
    order = order_create({mug: 1})  # no inbound: promised by day 30
    from orders.promises import promises_keep

    run_on_commit(promises_keep, product_id=mug.pk)
    assert not DelayNotice.objects.exists()
    lead = settings.DELAY_NOTICE_LEAD_DAYS
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a: days(30 - lead))
    run_on_commit(promises_keep, product_id=mug.pk)
    notice = DelayNotice.objects.get()
    assert notice.answer_by == days(30) and notice.needs_consent
    assert notice.line == line_of(order)


def test_supply_that_recovers_withdraws_the_notice_with_the_good_news(mug, run_on_commit):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order_create({mug: 1})
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(20))
    mail.outbox.clear()
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(9))
    assert DelayNotice.objects.get().outcome == "resolved"
    (message,) = sent("back on time")
    assert f"now expected by {days(9):%-d %B %Y}" in message.body


def test_priority_and_cancellation_re_date_the_queue(mug, run_on_commit):
    announce(mug, 1, 10, "PO-1", run_on_commit)
    first = order_create({mug: 1})
    second = order_create({mug: 1})
    assert (line_of(first).eta, line_of(second).eta) == (days(10), None)
    run_on_commit(order_lines_move_to_front, line_ids=[line_of(second).pk])
    assert (line_of(first).eta, line_of(second).eta) == (None, days(10))
    run_on_commit(order_cancel_backorders, order=second, line_ids=[line_of(second).pk])
    assert line_of(first).eta == days(10)


def test_a_shrunk_grown_or_received_inbound_re_dates_the_queue(mug, run_on_commit):
    inbound = announce(mug, 2, 10, "PO-1", run_on_commit)
    first, second = order_create({mug: 1}), order_create({mug: 1})
    run_on_commit(inbound_revise, inbound=inbound, quantity=1)
    assert (line_of(first).eta, line_of(second).eta) == (days(10), None)
    run_on_commit(inbound_revise, inbound=inbound, quantity=3)
    assert line_of(second).eta == days(10)
    run_on_commit(inbound_receive, inbound=inbound)
    assert line_of(first).allocated == line_of(second).allocated == 1
    assert Inbound.objects.get().received_at is not None
    with pytest.raises(Exception, match="received already"):
        inbound_revise(inbound=inbound, quantity=5)


def test_units_that_arrive_before_the_answer_end_the_delay(client, mug, run_on_commit):
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    run_on_commit(inbound_cancel, inbound=inbound)
    run_on_commit(stock_receive, product=mug, quantity=1)
    assert line_of(order).allocated == 1
    assert client.get(f"/orders/{order.token}/status.json").json()["awaiting_consent"] is False
    assert "is delayed" not in client.get(f"/orders/{order.token}/").content.decode()
    run_on_commit(delay_notices_expire)  # the sweep closes it for the record
    assert DelayNotice.objects.get().outcome == "resolved"


def test_stored_etas_equal_a_fresh_walk_after_a_partial_receipt(mug, run_on_commit):
    announce(mug, 3, 10, "PO-1", run_on_commit)
    announce(mug, 3, 20, "PO-2", run_on_commit)
    orders = [order_create({mug: 2}) for _ in range(3)]
    run_on_commit(stock_receive, product=mug, quantity=3, reference="PO-1")
    # PO-1's three units served the first order and one of the second's two.
    assert [line_of(o).backordered for o in orders] == [0, 1, 2]
    assert [line_of(o).eta for o in orders][1:] == [days(20), days(20)]
    assert line_etas_refresh(product_id=mug.pk) == 0  # what was stored is the walk


class TestAllowInbound:
    @pytest.fixture
    def tent(self, db):
        return product_create(sku="TENT", name="Tent", policy=BackorderPolicy.ALLOW_INBOUND)

    def test_back_orders_only_up_to_unpromised_inbound_supply(self, client, tent, run_on_commit):
        assert tent.purchase_policy.backorderable == 0
        announce(tent, 3, 10, "PO-T", run_on_commit)
        tent.refresh_from_db()
        del tent.inbound_supply
        assert tent.purchase_policy.backorderable == 3
        page = client.get(tent.get_absolute_url()).content.decode()
        assert "3 more can be back-ordered with a confirmed date" in page
        order_create({tent: 2})
        with pytest.raises(Exception, match="has only 1 available"):
            order_place(
                quantities={tent.pk: 2},
                email="x@example.com",
                name="X",
                shipping_address="1 Road",
                backorder_accepted=True,
            )
        assert line_of(order_create({tent: 1})).eta == days(10)


class TestInboundUpdateCommand:
    def test_changes_the_date_and_quantity_or_cancels(self, mug, run_on_commit):
        call_command(
            "receive_stock",
            "MUG",
            "5",
            "--reference",
            "PO-9",
            "--expected-date",
            days(5).isoformat(),
        )
        run_on_commit(
            call_command,
            "inbound_update",
            "PO-9",
            "--expected-date",
            days(8).isoformat(),
            "--quantity",
            "7",
        )
        inbound = Inbound.objects.get()
        assert (inbound.expected_date, inbound.quantity) == (days(8), 7)
        run_on_commit(call_command, "inbound_update", "PO-9", "--cancel")
        inbound.refresh_from_db()
        assert inbound.cancelled_at is not None

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["NOPE", "--quantity", "2"], "no open inbound"),
            (["PO-9"], "say what changed"),
            (["PO-9", "--cancel", "--quantity", "2"], "--cancel takes no"),
            (["PO-9", "--quantity", "-2"], "whole number"),
            (["PO-9", "--quantity", "0"], "from 1 to"),
            (["PO-9", "--expected-date", "2020-01-01"], "in the past"),
            (["PO-9", "--expected-date", "tomorrow"], "YYYY-MM-DD"),
            (["", "--cancel"], "empty"),
        ],
    )
    def test_bad_input_is_refused_and_changes_nothing(self, mug, args, message):
        call_command(
            "receive_stock",
            "MUG",
            "5",
            "--reference",
            "PO-9",
            "--expected-date",
            days(5).isoformat(),
        )
        with pytest.raises(CommandError, match=message):
            call_command("inbound_update", *args)
        inbound = Inbound.objects.get()
        assert (inbound.quantity, inbound.expected_date, inbound.cancelled_at) == (5, days(5), None)

    def test_an_open_reference_cannot_be_announced_twice(self, mug):
        call_command(
            "receive_stock",
            "MUG",
            "5",
            "--reference",
            "PO-9",
            "--expected-date",
            days(5).isoformat(),
        )
        with pytest.raises(CommandError, match="already has the reference"):
            call_command(
                "receive_stock",
                "MUG",
                "5",
                "--reference",
                "PO-9",
                "--expected-date",
                days(6).isoformat(),
            )


def test_a_slip_that_moves_a_long_queue_tells_each_customer_once_in_batches(
    mug, run_on_commit, monkeypatch
):
    monkeypatch.setattr("orders.promises.KEEP_BATCH", 2)
    inbound = announce(mug, 5, 10, "PO-1", run_on_commit)
    orders = [order_create({mug: 1}, email=f"c{i}@example.com") for i in range(5)]
    mail.outbox.clear()
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(9))  # earlier
    assert sorted(m.to[0] for m in sent("New expected date")) == [
        f"c{i}@example.com" for i in range(5)
    ]
    assert {line_of(order).eta_told for order in orders} == {days(9)}


def test_a_better_date_for_an_open_notice_keeps_silence_as_consent(mug, run_on_commit):
    inbound = announce(mug, 1, 5, "PO-1", run_on_commit)
    order_create({mug: 1})  # promised by day 7
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(20))
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(15))  # better, late
    notice = DelayNotice.objects.get(outcome="")
    assert (notice.revised_date, notice.needs_consent, notice.answer_by) == (
        days(17),
        False,
        days(7),
    )


def test_the_page_offers_to_cancel_what_still_waits_after_a_partial_allocation(
    client, mug, run_on_commit
):
    inbound = announce(mug, 10, 5, "PO-1", run_on_commit)
    order = order_create({mug: 10})
    run_on_commit(inbound_cancel, inbound=inbound)
    run_on_commit(stock_receive, product=mug, quantity=4)
    page = client.get(f"/orders/{order.token}/").content.decode()
    assert "Cancel 6 for a full refund" in page


def test_waiting_on_a_notice_whose_units_arrived_changes_no_promise(client, mug, run_on_commit):
    inbound = announce(mug, 1, 5, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    run_on_commit(inbound_cancel, inbound=inbound)
    run_on_commit(stock_receive, product=mug, quantity=1)
    notice = DelayNotice.objects.get()
    page = client.post(
        f"/orders/{order.token}/delays/{notice.pk}/", {"answer": "wait"}, follow=True
    ).content.decode()
    assert "those units have arrived" in page
    notice.refresh_from_db()
    assert notice.outcome == "resolved" and line_of(order).promised_by == days(7)


def test_an_expired_notice_whose_date_recovered_is_not_cancelled(mug, run_on_commit, monkeypatch):
    inbound = announce(mug, 1, 5, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(60))  # needs consent
    # The supplier recovers, but the customers are not told yet (the batch window).
    OrderLine.objects.filter(pk=line_of(order).pk).update(eta=days(5))
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a: days(8))
    monkeypatch.setattr("orders.services.promise_broken", lambda **kw: False)
    assert run_on_commit(delay_notices_expire) == (0, 0)
    assert line_of(order).backordered == 1
    assert DelayNotice.objects.get().outcome == "resolved"


def test_inbounds_dated_beyond_two_years_are_refused(mug):
    with pytest.raises(CommandError, match="more than 730 days away"):
        call_command(
            "receive_stock", "MUG", "5", "--reference", "PO-9", "--expected-date", "9999-12-31"
        )
    assert not Inbound.objects.exists()


def test_check_inventory_names_a_second_promise_passed_untold(
    client, mug, run_on_commit, monkeypatch
):
    inbound = announce(mug, 1, 5, "PO-1", run_on_commit)
    order = order_create({mug: 1})
    run_on_commit(inbound_revise, inbound=inbound, expected_date=days(9))
    notice = DelayNotice.objects.get()
    client.post(f"/orders/{order.token}/delays/{notice.pk}/", {"answer": "wait"})
    assert line_of(order).promised_by == days(11)
    from backorders.selectors import inventory_problems

    assert inventory_problems() == []
    # Day 12: the new promise has passed with nobody told; the first notice was about
    # the first promise and does not count.
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a: days(12))
    assert any("past its promise of" in problem for problem in inventory_problems())


def test_a_notice_without_a_date_stays_until_a_date_ships_in_time(mug, run_on_commit):
    # Found by the simulated year: the next run withdrew it as "back on time".
    inbound = announce(mug, 1, 10, "PO-1", run_on_commit)
    order_create({mug: 1})  # promised by day 12
    run_on_commit(inbound_cancel, inbound=inbound)
    mail.outbox.clear()
    from orders.promises import promises_keep

    run_on_commit(promises_keep, product_id=mug.pk)
    assert DelayNotice.objects.get().is_open and not mail.outbox
    announce(mug, 1, 9, "PO-2", run_on_commit)  # a date that ships by the promise
    assert DelayNotice.objects.get().outcome == "resolved"
    (message,) = sent("back on time")
    assert f"now expected by {days(9):%-d %B %Y}" in message.body
