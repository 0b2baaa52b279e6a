"""Management commands and the admin driven with generated bad values: a CommandError
or a form error, never a traceback, and nothing changed."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given
from hypothesis import strategies as st

from backorders.selectors import inventory_problems
from tests.properties import strategies as domain
from tests.properties.checks import answered_without_error, case, refused_and_unchanged, state

pytestmark = pytest.mark.django_db


def refused(command: str, *args, **options) -> None:
    before = state()
    with pytest.raises(CommandError):
        call_command(command, *args, **options)
    assert state() == before


@given(
    sku=st.one_of(st.just("KETTLE"), domain.skus()),
    quantity=domain.quantities(),
    reference=st.one_of(st.just(""), domain.hostile_text(), domain.long_text()),
    expected_date=st.one_of(st.none(), domain.dates()),
)
def test_receive_stock(store, sku, quantity, reference, expected_date):
    case("receive_stock")
    options = {"reference": reference}
    if expected_date is not None:
        options["expected_date"] = expected_date
    before = state()
    try:
        call_command("receive_stock", sku, quantity, **options)
    except CommandError:
        assert state() == before


@given(
    reference=st.one_of(st.just("PO-MILL"), st.just(""), domain.hostile_text()),
    expected_date=st.one_of(st.none(), domain.dates()),
    quantity=st.one_of(st.none(), domain.quantities()),
    cancel=st.booleans(),
)
def test_inbound_update(store, reference, expected_date, quantity, cancel):
    case("inbound_update")
    options = {"cancel": cancel}
    if expected_date is not None:
        options["expected_date"] = expected_date
    if quantity is not None:
        options["quantity"] = quantity
    before = state()
    try:
        call_command("inbound_update", reference, **options)
    except CommandError:
        assert state() == before
    assert inventory_problems() == []


@given(
    quantity=domain.quantities(),
    expected_date=domain.dates(),
    reference=st.one_of(st.just("PO-MILL"), domain.hostile_text(), domain.long_text()),
)
def test_admin_inbound_shipment(admin_client, store, quantity, expected_date, reference):
    case("admin inbound shipment")
    form = {"quantity": quantity, "expected_date": expected_date, "reference": reference}
    for url, data in [
        ("/admin/backorders/inboundshipment/add/", {**form, "product": store["tent"].pk}),
        (f"/admin/backorders/inboundshipment/{store['inbound'].pk}/change/", form),
    ]:
        before = state()
        response = admin_client.post(url, data)
        answered_without_error(response)
        if response.status_code != 302:
            refused_and_unchanged(response, before, refused=(200, 400))


@given(content=domain.csv_files())
def test_import_products(store, tmp_path_factory, content):
    case("import_products")
    path = tmp_path_factory.mktemp("import") / "products.csv"
    path.write_bytes(content)
    refused("import_products", str(path))


@given(selection=domain.selections())
def test_admin_actions(admin_client, store, selection):
    case("admin actions")
    before = state()
    for changelist, action in [
        ("/admin/orders/order/", "ship_ready_units"),
        ("/admin/backorders/queuedbackorder/", "cancel_backorders"),
        ("/admin/notifications/outboxemail/", "resend"),
    ]:
        response = admin_client.post(
            changelist, {"action": action, "_selected_action": selection, "index": 0}
        )
        answered_without_error(response)
        assert state() == before


@given(
    quantity=domain.quantities(),
    reference=st.one_of(domain.hostile_text(), domain.long_text()),
    expected_date=st.one_of(st.just(""), domain.dates()),
    confirm=st.booleans(),
)
def test_admin_receive_stock(admin_client, store, quantity, reference, expected_date, confirm):
    case("admin receive stock")
    before = state()
    url = f"/admin/backorders/productstock/{store['kettle'].pk}/receive/"
    data = {"quantity": quantity, "reference": reference, "expected_date": expected_date}
    response = admin_client.post(url, {**data, **({"confirm": "Receive"} if confirm else {})})
    answered_without_error(response)
    if response.status_code != 302:  # refused, or only previewed
        refused_and_unchanged(response, before, refused=(200, 400))


@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.tuples(
                st.one_of(st.just("KETTLE"), domain.skus()),
                st.one_of(domain.quantities(), st.just("")),
                st.one_of(st.just(""), domain.hostile_text()),
            ),
            max_size=5,
        ).map(
            lambda rows: (
                "sku,quantity,reference\n"
                + "".join(f"{sku},{quantity},{reference}\n" for sku, quantity, reference in rows)
            )
        ),
    )
)
def test_admin_receipts_upload(admin_client, store, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    case("admin receipts upload")
    before = state()
    data = content.encode() if isinstance(content, str) else content
    file = SimpleUploadedFile("receipts.csv", data, content_type="text/csv")
    response = admin_client.post("/admin/backorders/productstock/receipts/", {"file": file})
    answered_without_error(response)
    if response.status_code != 302:
        refused_and_unchanged(response, before, refused=(200, 400))
    assert inventory_problems() == []
