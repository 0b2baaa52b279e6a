import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from backorders.services import inbound_announce
from catalog.exceptions import StockError
from catalog.models import Inbound
from notifications.models import OutboxEmail
from orders.models import OrderLine
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    kettle = product_create(sku="KETTLE", on_hand=3)
    grinder = product_create(sku="GRINDER")
    first = order_create({grinder: 2, kettle: 1}, email="first@example.com")
    second = order_create({grinder: 1}, email="second@example.com")
    return {"kettle": kettle, "grinder": grinder, "first": first, "second": second}


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:catalog_product_changelist",
        "admin:catalog_stockmovement_changelist",
        "admin:backorders_productstock_changelist",
        "admin:backorders_queuedbackorder_changelist",
        "admin:orders_order_changelist",
        "admin:notifications_outboxemail_changelist",
    ],
)
def test_staff_pages_render(admin_client, store, url_name):
    assert admin_client.get(reverse(url_name)).status_code == 200


def test_order_and_email_pages_render(admin_client, store):
    order = store["first"]
    response = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200 and order.email in response.content.decode()
    email = OutboxEmail.objects.filter(to_email=order.email).first()
    response = admin_client.get(reverse("admin:notifications_outboxemail_change", args=[email.pk]))
    assert b"Email preview" in response.content


def test_queue_lists_waiting_back_orders_in_order_with_positions(admin_client, store):
    url = reverse("admin:backorders_queuedbackorder_changelist")
    response = admin_client.get(url, {"product__id__exact": store["grinder"].pk})
    rows = list(response.context["cl"].result_list)
    assert [(row.order.email, row.position) for row in rows] == [
        ("first@example.com", 1),
        ("second@example.com", 2),
    ]


def test_staff_move_a_back_order_to_the_front_with_a_reason(admin_client, store):
    from orders.selectors import order_timeline

    line = OrderLine.objects.get(order=store["second"])
    url = reverse("admin:backorders_queuedbackorder_changelist")
    action = {"action": "move_to_front", "_selected_action": [line.pk]}
    asked = admin_client.post(url, action)  # no reason yet: asked for one, nothing moved
    assert b"Reason (kept on each order" in asked.content
    line.refresh_from_db()
    assert line.priority == 0
    assert admin_client.post(url, {**action, "reason": "   "}).status_code == 200
    assert admin_client.post(url, {**action, "reason": "VIP customer"}).status_code == 302
    rows = admin_client.get(url, {"product__id__exact": store["grinder"].pk}).context["cl"]
    assert [(row.order.email, row.position) for row in rows.result_list] == [
        ("second@example.com", 1),
        ("first@example.com", 2),
    ]
    staff = [event for event in order_timeline(order=store["second"]) if event.kind == "Staff"]
    assert [(event.who, event.text) for event in staff] == [
        ("admin", "Moved 1 × Grinder to the front of its queue. Reason: VIP customer")
    ]


def test_queue_filters_keep_true_positions(admin_client, store):
    url = reverse("admin:backorders_queuedbackorder_changelist")
    OrderLine.objects.filter(order=store["first"]).update(
        queued_at=timezone.now() - datetime.timedelta(days=20)
    )
    rows = admin_client.get(url, {"age": "0-7"}).context["cl"].result_list
    assert [(row.order.email, row.position) for row in rows] == [("second@example.com", 2)]
    rows = admin_client.get(url, {"age": "15-30"}).context["cl"].result_list
    assert [(row.order.email, row.position) for row in rows] == [("first@example.com", 1)]
    assert list(admin_client.get(url, {"eta": "yes"}).context["cl"].result_list) == []


def test_queue_actions_are_refused_without_manage_queue(warehouse_client, store):
    line = OrderLine.objects.get(order=store["second"])
    url = reverse("admin:backorders_queuedbackorder_changelist")
    for action in ("move_to_front", "cancel_backorders", "allocate_now"):
        warehouse_client.post(url, {"action": action, "_selected_action": [line.pk], "reason": "x"})
    line.refresh_from_db()
    assert (line.priority, line.backordered, line.cancelled) == (0, 1, 0)


def test_ship_action_ships_ready_units_and_reports_the_rest(admin_client, store):
    url = reverse("admin:orders_order_changelist")
    orders = [store["first"].pk, store["second"].pk]
    response = admin_client.post(
        url, {"action": "ship_ready_units", "_selected_action": orders}, follow=True
    )
    text = response.content.decode()
    assert f"Order {store['first'].number}: shipped 1 unit(s)." in text
    assert f"Order {store['second'].number} has no units ready to ship." in text
    store["kettle"].refresh_from_db()
    assert (store["kettle"].on_hand, store["kettle"].allocated) == (2, 0)


def test_saving_a_product_keeps_stock_changed_meanwhile(admin_client, store):
    kettle = store["kettle"]
    url = reverse("admin:catalog_product_change", args=[kettle.pk])
    form = admin_client.get(url).context["adminform"].form
    # The picture stays as it is (an empty file field is not posted).
    data = {name: form[name].value() for name in form.fields if name != "image"}
    data.update({"name": "Renamed kettle", "inbounds-TOTAL_FORMS": 0, "inbounds-INITIAL_FORMS": 0})
    order_create({kettle: 2})  # a checkout commits while staff edit the product
    assert admin_client.post(url, data).status_code == 302
    kettle.refresh_from_db()
    assert (kettle.name, kettle.allocated) == ("Renamed kettle", 3)


def test_view_only_staff_cannot_ship(client, store, django_user_model):
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(clerk)
    url = reverse("admin:orders_order_changelist")
    client.post(url, {"action": "ship_ready_units", "_selected_action": [store["first"].pk]})
    store["kettle"].refresh_from_db()
    assert store["kettle"].on_hand == 3


def test_staff_reordering_is_not_reported_as_a_fifo_breach(store):
    from backorders.selectors import inventory_problems
    from backorders.services import backorders_allocate, stock_receive
    from orders.services import order_lines_move_to_front

    grinder = store["grinder"]
    stock_receive(product=grinder, quantity=1)
    backorders_allocate(product_id=grinder.pk)  # the first order's line gets 1 of 2
    order_lines_move_to_front(line_ids=[store["second"].lines.get().pk])
    assert inventory_problems() == []


def test_staff_cancel_back_orders_with_a_reason(admin_client, store, run_on_commit):
    from django.core import mail

    url = reverse("admin:backorders_queuedbackorder_changelist")
    selected = [line.pk for line in OrderLine.objects.filter(backordered__gt=0)]
    action = {"action": "cancel_backorders", "_selected_action": selected}
    page = admin_client.post(url, action)
    assert page.status_code == 200 and b"Reason the customer will read" in page.content
    response = run_on_commit(admin_client.post, url, {**action, "reason": "Discontinued."})
    assert response.status_code == 302
    assert OrderLine.objects.filter(backordered__gt=0).count() == 0
    told = sorted(m.to[0] for m in mail.outbox if "cancelled" in m.subject)
    assert told == ["first@example.com", "second@example.com"]
    assert all("Why: Discontinued." in m.body for m in mail.outbox if "cancelled" in m.subject)


def test_staff_resend_a_failed_email(admin_client, store, run_on_commit):
    email = OutboxEmail.objects.first()
    OutboxEmail.objects.filter(pk=email.pk).update(status=OutboxEmail.Status.FAILED)
    url = reverse("admin:notifications_outboxemail_changelist")
    action = {"action": "resend", "_selected_action": [email.pk]}
    assert run_on_commit(admin_client.post, url, action).status_code == 302
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.SENT


def test_back_in_stock_sign_ups_are_listed(admin_client, store):
    from backorders.services import back_in_stock_signup

    timer = product_create(sku="TIMER", policy="deny")
    back_in_stock_signup(product=timer, email="wait@example.com")
    response = admin_client.get(reverse("admin:backorders_backinstocksignup_changelist"))
    assert b"wait@example.com" in response.content


@pytest.mark.django_db
def test_an_inbound_closed_between_form_and_save_is_told_not_a_500(admin_client, monkeypatch):
    mug = product_create(sku="MUG")
    inbound = inbound_announce(
        product=mug, quantity=5, expected_date=datetime.date.today(), reference="PO-RACE"
    )

    def received_meanwhile(**kwargs):
        raise StockError("Inbound PO-RACE was received already.")

    monkeypatch.setattr("backorders.admin.inbound_revise", received_meanwhile)
    url = f"/admin/backorders/inboundshipment/{inbound.pk}/change/"
    form = {"quantity": 7, "expected_date": datetime.date.today().isoformat()}
    response = admin_client.post(url, form, follow=True)
    assert response.status_code == 200
    assert "Nothing was saved: Inbound PO-RACE was received already." in response.content.decode()
    assert Inbound.objects.get().quantity == 5


def test_order_page_is_read_only_with_number_total_and_timeline(admin_client, store):
    order = store["first"]
    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk]))
    html = page.content.decode()
    assert f"<h1>Order {order.number}</h1>" in html
    assert 'name="_save"' not in html  # nothing here can be edited
    assert f"in order {order.number}" in html  # lines named by the customer's number
    total = sum(line.line_total for line in order.lines.all())
    assert f"{total} USD" in html
    assert all(kind in html for kind in (">Placed<", ">Reserved<", ">Email<"))
    assert f"Order {order.number} received" in html  # the email, with its subject


@pytest.mark.parametrize(
    "status, emails",
    [
        ("backordered", ["second@example.com", "first@example.com"]),
        ("ready_to_ship", ["third@example.com"]),
        ("shipped", []),
    ],
)
def test_order_list_filters_by_status(admin_client, store, status, emails):
    order_create({store["kettle"]: 1}, email="third@example.com")
    response = admin_client.get(reverse("admin:orders_order_changelist"), {"status": status})
    assert [order.email for order in response.context["cl"].result_list] == emails


def test_shipping_list_ships_in_bulk_and_prints_a_pick_list(warehouse_client, store):
    ready = order_create({store["kettle"]: 2}, email="third@example.com")
    url = reverse("admin:orders_order_changelist")
    shipping = warehouse_client.get(reverse("admin:orders_order_shipping"), follow=True)
    # The first order ships ready units now (its kettle); the second has nothing allocated.
    assert [order.email for order in shipping.context["cl"].result_list] == [
        "third@example.com",
        "first@example.com",
    ]
    selected = [ready.pk, store["first"].pk, store["second"].pk]
    picks = warehouse_client.post(url, {"action": "print_pick_list", "_selected_action": selected})
    assert [(i.sku, i.units, i.order_number) for i in picks.context["items"]] == [
        ("KETTLE", 1, store["first"].number),
        ("KETTLE", 2, ready.number),
    ]
    assert picks.context["skipped"] == 1
    warehouse_client.post(url, {"action": "ship_ready_units", "_selected_action": selected})
    store["kettle"].refresh_from_db()
    assert store["kettle"].on_hand == 0


def test_customer_service_cannot_ship_or_print_and_warehouse_cannot_refund(service_client, store):
    url = reverse("admin:orders_order_changelist")
    for action in ("ship_ready_units", "print_pick_list"):
        response = service_client.post(
            url, {"action": action, "_selected_action": [store["first"].pk]}
        )
        assert b"Pick list" not in response.content
    assert service_client.get(reverse("admin:orders_order_shipping")).status_code == 403
    store["kettle"].refresh_from_db()
    assert store["kettle"].on_hand == 3


def test_warehouse_cannot_refund_or_touch_the_queue(warehouse_client, store):
    refund = reverse("admin:orders_order_return", args=[store["first"].pk])
    assert warehouse_client.get(refund).status_code == 403
