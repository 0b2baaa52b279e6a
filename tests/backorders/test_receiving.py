"""Receiving from the admin: one product with a preview, an inbound shipment, and a
delivery's CSV checked whole and applied in one transaction."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from backorders.selectors import inbound_reach, queue_reach
from backorders.services import inbound_announce, stock_receive
from catalog.models import Inbound, Product, StockMovement
from orders.models import OrderLine
from tests.factories import order_create, product_create

pytestmark = pytest.mark.django_db
IN_A_WEEK = timezone.localdate() + datetime.timedelta(days=7)


@pytest.fixture
def store():
    grinder = product_create(sku="GRINDER")
    kettle = product_create(sku="KETTLE")
    orders = [order_create({grinder: units}) for units in (2, 3, 1)]
    return {"grinder": grinder, "kettle": kettle, "orders": orders}


def fresh(product: Product) -> Product:
    product.refresh_from_db()
    return product


def ledger() -> list[tuple]:
    return list(StockMovement.objects.order_by("pk").values_list("pk", "on_hand_delta"))


# --- What units would do for the queue ----------------------------------------------


def test_queue_reach_walks_the_queue_head_first(store):
    grinder, (first, second, third) = fresh(store["grinder"]), store["orders"]
    reach = queue_reach(product=grinder, units=3)
    assert (reach.units, reach.orders, reach.order_numbers) == (3, 2, [first.number, second.number])
    reach = queue_reach(product=grinder, units=5, after=2)
    assert (reach.units, reach.order_numbers) == (4, [second.number, third.number])
    assert queue_reach(product=grinder, units=5, after=6).orders == 0


def test_an_inbound_dates_the_back_orders_behind_earlier_inbounds(store):
    grinder, (_, second, third) = store["grinder"], store["orders"]
    inbound_announce(product=grinder, quantity=2, expected_date=IN_A_WEEK)
    later = IN_A_WEEK + datetime.timedelta(days=3)
    reach = inbound_reach(product=fresh(grinder), quantity=10, expected_date=later)
    assert (reach.units, reach.order_numbers) == (4, [second.number, third.number])


# --- One product ----------------------------------------------------------------------


def receive_url(product) -> str:
    return reverse("admin:backorders_productstock_receive", args=[product.pk])


def test_the_preview_names_the_orders_and_changes_nothing(warehouse_client, store):
    first, second, _ = store["orders"]
    response = warehouse_client.post(receive_url(store["grinder"]), {"quantity": 3})
    page = response.content.decode()
    assert (
        f"These 3 units will go to 2 waiting orders, head of the queue first: {first.number}, "
        f"{second.number}." in page
    )
    assert 'name="confirm"' in page
    assert fresh(store["grinder"]).on_hand == 0


def test_confirming_receives_and_the_queue_is_allocated(warehouse_client, store, run_on_commit):
    grinder, (first, second, _) = store["grinder"], store["orders"]
    data = {"quantity": 3, "reference": "PO-7", "confirm": "Receive"}
    response = run_on_commit(warehouse_client.post, receive_url(grinder), data)
    assert response.status_code == 302
    assert fresh(grinder).on_hand == 3
    assert [first.lines.get().allocated, second.lines.get().allocated] == [2, 1]
    assert StockMovement.objects.filter(kind="receipt", reference="PO-7").exists()


def test_with_an_expected_date_an_inbound_is_announced_instead(warehouse_client, store):
    grinder = store["grinder"]
    data = {"quantity": 4, "reference": "PO-8", "expected_date": IN_A_WEEK.isoformat()}
    preview = warehouse_client.post(receive_url(grinder), data).content.decode()
    assert "Nothing is received now" in preview and "They will date 2 waiting orders" in preview
    response = warehouse_client.post(receive_url(grinder), {**data, "confirm": "Record"})
    assert response.status_code == 302
    inbound = Inbound.objects.get(reference="PO-8")
    assert (inbound.quantity, inbound.expected_date, fresh(grinder).on_hand) == (4, IN_A_WEEK, 0)


@pytest.mark.parametrize(
    "data",
    [
        {"quantity": 0},
        {"quantity": -2},
        {"quantity": "lots"},
        {"quantity": 10**12},
        {"quantity": 1, "reference": "R" * 121},
        {"quantity": 1, "expected_date": "2020-01-01"},
        {"quantity": 1, "expected_date": "not a date"},
    ],
)
def test_bad_input_is_refused_with_nothing_changed(warehouse_client, store, data):
    before = ledger()
    for confirm in ({}, {"confirm": "Receive"}):
        response = warehouse_client.post(receive_url(store["grinder"]), {**data, **confirm})
        assert response.status_code == 200 and response.context["form"].errors
    assert ledger() == before and not Inbound.objects.exists()


# --- An inbound shipment --------------------------------------------------------------


def test_receiving_an_inbound_short_closes_it(warehouse_client, store, run_on_commit):
    grinder, (first, _, _) = store["grinder"], store["orders"]
    inbound = inbound_announce(product=grinder, quantity=5, expected_date=IN_A_WEEK, reference="S1")
    url = reverse("admin:backorders_inboundshipment_receive", args=[inbound.pk])
    assert b'value="5"' in warehouse_client.get(url).content  # all of it, unless told
    preview = warehouse_client.post(url, {"quantity": 2}).content.decode()
    assert (
        f"These 2 units will go to 1 waiting order, head of the queue first: {first.number}."
        in (preview)
    )
    run_on_commit(warehouse_client.post, url, {"quantity": 2, "confirm": "Receive"})
    inbound.refresh_from_db()
    assert inbound.received_at is not None and fresh(grinder).on_hand == 2
    assert first.lines.get().allocated == 2
    assert warehouse_client.get(url).status_code == 404  # received: nothing more to receive


# --- A delivery's CSV -----------------------------------------------------------------


def upload(client, text: str | bytes):
    content = text.encode() if isinstance(text, str) else text
    file = SimpleUploadedFile("delivery.csv", content, content_type="text/csv")
    return client.post(reverse("admin:backorders_productstock_receipts"), {"file": file})


def test_a_csv_is_received_in_one_go_and_allocated(warehouse_client, store, run_on_commit):
    grinder, kettle = store["grinder"], store["kettle"]
    csv = "sku,quantity,reference\nGRINDER,4,DN-1\nKETTLE,10,DN-2\n\nGRINDER,2,\n"
    response = run_on_commit(upload, warehouse_client, csv)
    assert response.status_code == 302
    assert (fresh(grinder).on_hand, fresh(kettle).on_hand) == (6, 10)
    assert sum(OrderLine.objects.filter(product=grinder).values_list("allocated", flat=True)) == 6
    page = warehouse_client.get(response.url).content.decode()
    assert "Received 16 units in 3 receipts for 2 products, all in one transaction." in page


def test_every_bad_row_is_listed_and_nothing_is_received(warehouse_client, store):
    stock_receive(product=store["kettle"], quantity=1, reference="DN-OLD")
    before = ledger()
    csv = (
        "sku,quantity,reference\n"
        "GRINDER,4,DN-1\n"
        "NOPE,1,DN-2\n"
        "KETTLE,0,DN-3\n"
        "KETTLE,-3,DN-4\n"
        "KETTLE,two,DN-5\n"
        "GRINDER,1,DN-1\n"
        "KETTLE,1,DN-OLD\n"
        "KETTLE,1\n"
    )
    response = upload(warehouse_client, csv)
    errors = response.context["form"].errors["file"]
    assert errors == [
        "Row 3: unknown SKU 'NOPE'.",
        "Row 4: quantity '0': Units must be a whole number from 1 to 1,000,000.",
        "Row 5: quantity '-3': Units must be a whole number from 1 to 1,000,000.",
        "Row 6: quantity 'two': Units must be a whole number from 1 to 1,000,000.",
        "Row 8: reference 'DN-OLD' was received already.",
        "Row 9: 2 columns, not 3.",
        "Rows 2, 7: the reference 'DN-1' appears more than once.",
    ]
    assert "Nothing was received" in response.content.decode()
    assert ledger() == before


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "The submitted file is empty."),
        (b"GRINDER,1,X\n", "The first row must be the header sku,quantity,reference."),
        (b"sku;quantity;reference\nGRINDER;1;X\n", "The first row must be the header"),
        (b"sku,quantity,reference\n", "The file has no receipts under its header."),
        (b"sku,quantity,reference\nGRINDER,1,\xff\xfe\n", "The file is not UTF-8 text."),
        (b'sku,quantity,reference\nGRINDER,1,"open\n', "Row 2: unexpected end of data."),
        (b"sku,quantity,reference\nGRINDER,1,A\x00B\n", "Row 2: a value contains the control"),
    ],
)
def test_a_file_that_is_not_a_receipts_csv_is_refused(warehouse_client, store, content, error):
    before = ledger()
    errors = upload(warehouse_client, content).context["form"].errors["file"]
    assert errors[0].startswith(error), errors
    assert ledger() == before


def test_a_csv_is_all_or_nothing(warehouse_client, store, monkeypatch):
    from catalog import services

    real, calls = services.stock_increase, []

    def fails_second_time(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr("backorders.services.stock_increase", fails_second_time)
    before = ledger()
    with pytest.raises(RuntimeError):
        upload(warehouse_client, "sku,quantity,reference\nGRINDER,4,A\nKETTLE,1,B\n")
    assert ledger() == before and fresh(store["grinder"]).on_hand == 0


def test_the_stock_list_shows_the_allocation_still_to_do(warehouse_client, store):
    stock_receive(product=store["grinder"], quantity=2)  # no worker has run: still to do
    page = warehouse_client.get(reverse("admin:backorders_productstock_changelist"))
    assert "Allocating received stock: 1 product still has units available" in page.content.decode()
    assert b"Receive a delivery (CSV)" in page.content


# --- Who may receive --------------------------------------------------------------------


@pytest.mark.parametrize("staff", ["service_client", "unprivileged_staff_client"])
def test_receiving_is_refused_without_receive_stock(request, store, staff):
    client = request.getfixturevalue(staff)
    inbound = inbound_announce(product=store["grinder"], quantity=5, expected_date=IN_A_WEEK)
    before = ledger()
    urls = [
        receive_url(store["grinder"]),
        reverse("admin:backorders_inboundshipment_receive", args=[inbound.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403
        assert client.post(url, {"quantity": 5, "confirm": "Receive"}).status_code == 403
    assert upload(client, "sku,quantity,reference\nGRINDER,4,A\n").status_code == 403
    changelist = reverse("admin:backorders_inboundshipment_changelist")
    client.post(changelist, {"action": "receive_inbounds", "_selected_action": [inbound.pk]})
    assert ledger() == before
    inbound.refresh_from_db()
    assert inbound.received_at is None
