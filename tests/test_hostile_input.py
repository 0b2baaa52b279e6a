"""The defects found by trying the store as an attacker and as a crowd would (issue 7),
each reproduced: these failed before the fixes. Tests marked postgres need its row
locks; the rest run on both databases (a NUL only crashes PostgreSQL)."""

import datetime
import re

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from backorders.selectors import inventory_problems
from backorders.services import stock_receive
from catalog.exceptions import StockError
from catalog.models import Inbound, Product, StockMovement
from catalog.policy import BackorderPolicy
from notifications.models import OutboxEmail
from orders.models import Order, OrderLine
from tests.factories import CARD, order_create, product_create
from tests.test_concurrency import concurrently_each

# What a shopper types on a checkout page that has nothing back-ordered (so no
# shipping choice and no consent box).
DETAILS = {
    "email": "sam@example.com",
    "name": "Sam Shopper",
    "shipping_address": "1 Queue St",
    **CARD,
}


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def checkout_form(client) -> dict[str, str]:
    """The checkout page's hidden fields, as the shopper's browser would send them."""
    page = client.get("/checkout/")
    assert page.status_code == 200
    fields = hidden_fields(page.content.decode())
    del fields["csrfmiddlewaretoken"]
    return fields


def add(client, product, quantity=1):
    response = client.post("/cart/add/", {"product_id": product.pk, "quantity": quantity})
    assert response.status_code == 302


# 1. A NUL byte anywhere in a request is a 400, before any query sees it.


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/?q=%00"),
        ("get", "/?category=%00"),
        ("get", "/orders/%00/"),
        ("get", "/orders/{token}%00/"),
        ("get", "/orders/{token}%00/status.json"),
        ("post", "/orders/{token}%00/shipping/"),
        ("post", "/orders/{token}%00/lines/{line}/cancel/"),
        ("get", "/products/kettle%00/"),
    ],
)
def test_a_nul_in_the_address_is_a_400(client, method, url):
    order = order_create({product_create(sku="KETTLE"): 1})
    url = url.format(token=order.token, line=order.lines.get().pk)
    if method == "post":
        response = client.post(url, {"shipping_preference": "ship_ready_now"})
    else:
        response = client.get(url)
    assert response.status_code == 400
    assert order.lines.get().backordered == 1


@pytest.mark.django_db
def test_a_nul_in_a_form_field_or_the_session_cookie_is_a_400(client):
    kettle = product_create(sku="KETTLE", on_hand=3)
    response = client.post("/cart/add/", {"product_id": kettle.pk, "quantity": "1\x00"})
    assert response.status_code == 400
    add(client, kettle)
    response = client.post("/checkout/", {**checkout_form(client), **DETAILS, "name": "A\x00B"})
    assert response.status_code == 400
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    assert client.get("/").status_code == 400
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_nul_or_a_huge_field_in_an_import_is_a_clean_error_naming_the_row(tmp_path):
    header = "sku,name,price,category,backorder_policy,backorder_limit,lead_time_days,description"
    nul, huge = tmp_path / "nul.csv", tmp_path / "huge.csv"
    nul.write_text(f"{header}\nA1,Good,1.00,Cat,allow,0,1,\nA2,Na\x00me,1.00,Cat,allow,0,1,\n")
    huge.write_text(f"{header}\nA1,{'x' * 200_000},1.00,Cat,allow,0,1,\n")
    with pytest.raises(CommandError, match=r"row 3: name contains the control character U\+0000"):
        call_command("import_products", str(nul))
    with pytest.raises(CommandError, match="row 2: field larger than field limit"):
        call_command("import_products", str(huge))
    assert not Product.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("argument", ["KET\x00TLE", "KET\udcffTLE"])
def test_a_command_argument_with_a_nul_or_an_undecodable_byte_is_refused(kettle, argument):
    with pytest.raises(CommandError, match="sku contains"):
        call_command("receive_stock", argument, "5")
    with pytest.raises(CommandError, match="reference contains"):
        call_command("receive_stock", "KETTLE", "5", reference=argument)
    assert kettle.movements.count() == 1


# 2. Forms never accept more than their columns hold.


@pytest.mark.django_db
@pytest.mark.parametrize("length", [255, 320])
def test_an_email_longer_than_its_column_is_a_form_error(client, length):
    email = "a" * (length - len("@example.com")) + "@example.com"
    kettle, timer = product_create(sku="KETTLE", on_hand=3), product_create(sku="TIMER")
    timer.backorder_policy = BackorderPolicy.DENY
    timer.save(update_fields=["backorder_policy"])
    add(client, kettle)
    response = client.post("/checkout/", {**checkout_form(client), **DETAILS, "email": email})
    assert response.status_code == 400 and response.context["form"].errors["email"]
    response = client.post(f"/products/{timer.slug}/notify-me/", {"email": email})
    assert response.status_code == 400 and response.context["form"].errors["email"]
    assert not Order.objects.exists() and not timer.back_in_stock_signups.exists()


# 3. A double-submitted checkout places one order.


@pytest.mark.django_db
def test_the_same_checkout_form_sent_twice_places_one_order(client, run_on_commit):
    add(client, product_create(sku="KETTLE", on_hand=3))
    form = {**checkout_form(client), **DETAILS}
    first = run_on_commit(client.post, "/checkout/", form)
    second = run_on_commit(client.post, "/checkout/", form)
    order = Order.objects.get()
    assert first.url == second.url == order.get_absolute_url()
    assert OutboxEmail.objects.filter(event="order_placed").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_five_concurrent_submits_of_one_checkout_form_place_one_order():
    kettle = product_create(sku="KETTLE", on_hand=10)
    shopper = Client()
    add(shopper, kettle, 2)
    form = {**checkout_form(shopper), **DETAILS}

    def submit():
        twin = Client()
        twin.cookies = shopper.cookies
        return twin.post("/checkout/", form)

    responses = concurrently_each([submit] * 5)
    order = Order.objects.get()
    assert {(r.status_code, r.url) for r in responses} == {(302, order.get_absolute_url())}
    kettle.refresh_from_db()
    assert kettle.allocated == 2
    assert OutboxEmail.objects.filter(event="order_placed").count() == 1


# 4. A hot product: when stock changes under a shopper, one more click places the order.


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_forty_shoppers_on_ten_in_stock_all_get_their_order():
    kettle = product_create(sku="KETTLE", on_hand=10)
    shoppers = [Client() for _ in range(40)]
    forms = []
    for shopper in shoppers:
        add(shopper, kettle)
        forms.append({**checkout_form(shopper), **DETAILS})  # each saw it in stock

    def checkout(shopper, form):
        def run():
            response = shopper.post("/checkout/", form)
            if response.status_code == 302:
                return "placed at once"
            page = response.content.decode()
            assert response.status_code == 400
            assert "Stock changed while you were checking out" in page
            assert "1 on back-order" in page and 'name="accept_backorder"' in page
            assert "Sam Shopper" in page  # what they typed is kept
            again = shopper.post(
                "/checkout/", {**form, **hidden_fields(page), "accept_backorder": "on"}
            )
            assert again.status_code == 302
            return "placed after accepting"

        return run

    outcomes = concurrently_each([checkout(s, f) for s, f in zip(shoppers, forms, strict=True)])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert (outcomes.count("placed at once"), outcomes.count("placed after accepting")) == (10, 30)
    assert Order.objects.count() == 40
    kettle.refresh_from_db()
    assert (kettle.allocated, kettle.backordered) == (10, 30)
    queue = OrderLine.objects.backorder_queue(kettle.pk)
    positions = [Client().get(f"{line.order.get_absolute_url()}status.json") for line in queue]
    assert [p.json()["lines"][0]["queue_position"] for p in positions] == list(range(1, 31))
    assert inventory_problems() == []


@pytest.mark.django_db
def test_stock_changing_under_a_shopper_says_so_and_keeps_what_they_typed(client):
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1)
    add(client, kettle)
    form = {**checkout_form(client), **DETAILS}
    order_create({kettle: 1})  # the last one goes to someone else
    response = client.post("/checkout/", form)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Stock changed while you were checking out" in page
    assert "1 on back-order" in page
    assert "This field is required" not in page
    assert "Tick this box to place the order with back-ordered items" in page
    assert page.count("This field is required") == 0
    assert 'value="sam@example.com"' in page
    response = client.post("/checkout/", {**form, **hidden_fields(page), "accept_backorder": "on"})
    assert response.status_code == 302
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_consent_never_covers_a_back_order_the_shopper_was_not_shown(client):
    grinder = product_create(sku="GRINDER", name="Grinder", on_hand=1)
    kettle = product_create(sku="KETTLE", name="Kettle", on_hand=1)
    add(client, grinder, 2)  # 1 in stock, 1 on back-order: shown and accepted
    add(client, kettle)  # in stock when the page was shown
    form = {**checkout_form(client), **DETAILS, "accept_backorder": "on"}
    order_create({kettle: 1})  # the last kettle goes meanwhile
    response = client.post("/checkout/", form)
    assert response.status_code == 400
    assert "Stock changed while you were checking out" in response.content.decode()
    assert Order.objects.count() == 1
    again = {**form, **hidden_fields(response.content.decode())}
    assert client.post("/checkout/", again).status_code == 302  # accepted as now shown


@pytest.mark.django_db
def test_a_checkout_key_from_another_session_reveals_no_order(client, run_on_commit):
    add(client, product_create(sku="KETTLE", on_hand=3))
    form = {**checkout_form(client), **DETAILS}
    placed = run_on_commit(client.post, "/checkout/", form)
    stranger = Client()
    response = stranger.post("/checkout/", form)
    assert response.status_code == 302 and response.url != placed.url
    assert response.url == "/cart/"  # their own (empty) cart, not the order


# 6. Admin actions with a mangled selection.


@pytest.mark.django_db
@pytest.mark.parametrize("selection", ["x", "1.5", "", "9" * 30])
def test_every_admin_action_refuses_a_mangled_selection(admin_client, selection):
    order = order_create({product_create(sku="KETTLE", on_hand=1): 2})
    emails = OutboxEmail.objects.count()
    checked = 0
    for model, model_admin in admin.site._registry.items():
        for action in model_admin.get_actions(admin_client.request().wsgi_request):
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            response = admin_client.post(
                url, {"action": action, "_selected_action": [selection], "index": 0}
            )
            assert response.status_code in (200, 302), (url, action, response.status_code)
            checked += 1
    assert checked >= 5
    assert order.lines.get().backordered == 1 and OutboxEmail.objects.count() == emails
    assert Order.objects.count() == 1


# 9. Admin login lockout (django-axes).


@pytest.mark.django_db
def test_admin_login_locks_out_after_repeated_wrong_passwords(client, django_user_model, settings):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(
            "/admin/login/?next=/admin/", {"username": "boss", "password": "wrong"}
        )
        assert response.status_code in (200, 429)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "boss", "password": "right-password-1"}
    )
    assert response.status_code == 429
    assert "Sign-in temporarily locked" in response.content.decode()
    assert client.get("/admin/").status_code == 302  # still not signed in
    # The lock is on that username at that address: staff elsewhere still sign in.
    elsewhere = Client(REMOTE_ADDR="198.51.100.9")
    response = elsewhere.post(
        "/admin/login/?next=/admin/", {"username": "boss", "password": "right-password-1"}
    )
    assert response.status_code == 302 and response.url == "/admin/"


# 10. A Content-Security-Policy on every page.


@pytest.mark.django_db
def test_shop_pages_carry_a_strict_content_security_policy(client, admin_client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    admin_policy = admin_client.get("/admin/")["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in admin_policy
    assert "script-src 'self'" in admin_policy


@pytest.mark.django_db
def test_the_policy_follows_the_payment_provider(client, settings):
    assert "stripe" not in client.get("/")["Content-Security-Policy"]
    settings.STRIPE_SECRET_KEY = "sk_test_storefront"
    settings.STRIPE_API_BASE = "http://127.0.0.1:8420/v1"
    settings.STRIPE_JS_URL = "http://127.0.0.1:8420/js.stripe.com/v3/"
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self' http://127.0.0.1:8420;" in policy
    assert "frame-src http://127.0.0.1:8420 https://hooks.stripe.com" in policy
    settings.STRIPE_SECRET_KEY = ""
    assert "8420" not in client.get("/")["Content-Security-Policy"]


@pytest.mark.django_db
def test_a_changed_policy_setting_is_sent_from_the_next_answer(client, settings):
    assert "cdn.example" not in client.get("/")["Content-Security-Policy"]
    policy = settings.CONTENT_SECURITY_POLICY
    directives = {**policy["DIRECTIVES"], "img-src": ["'self'", "https://cdn.example"]}
    settings.CONTENT_SECURITY_POLICY = {**policy, "DIRECTIVES": directives}
    assert "img-src 'self' https://cdn.example" in client.get("/")["Content-Security-Policy"]


@pytest.mark.django_db
def test_debug_pages_carry_no_policy_for_their_inline_styles(client, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "Content-Security-Policy" not in response
    settings.DEBUG = False
    assert "Content-Security-Policy" in client.get("/no-such-page/")


# 11. Services enforce their own rules.


@pytest.mark.django_db
@pytest.mark.parametrize("quantity", [0, -5, 1_000_001])
def test_receiving_refuses_a_quantity_outside_its_rule(kettle, quantity):
    with pytest.raises(StockError, match="Units must be a whole number from 1"):
        stock_receive(product=kettle, quantity=quantity)
    kettle.refresh_from_db()
    assert (kettle.on_hand, StockMovement.objects.count()) == (10, 1)


# 12. status.json answers JSON; past inbounds are refused in the admin as by the command.


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["unknown-token", "x" * 300, "a.b", "..%2F..%2Fetc"])
def test_status_json_for_an_unknown_token_is_a_json_404(client, token):
    response = client.get(f"/orders/{token}/status.json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not found"}


@pytest.mark.django_db
def test_an_inbound_dated_in_the_past_is_refused_in_the_admin(admin_client, kettle):
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    url = "/admin/backorders/inboundshipment/add/"
    assert admin_client.get(url).status_code == 200
    form = {
        "product": kettle.pk,
        "quantity": 5,
        "expected_date": yesterday.isoformat(),
        "reference": "PO-LATE",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "is in the past" in response.content.decode()
    assert not Inbound.objects.exists()
    form["expected_date"] = (yesterday + datetime.timedelta(days=3)).isoformat()
    assert admin_client.post(url, form).status_code == 302
    assert Inbound.objects.get().reference == "PO-LATE"


@pytest.mark.parametrize(
    ("forwarded", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("not-an-address", "0.0.0.0"),
    ],
)
def test_the_client_address_behind_a_proxy_ignores_ports_and_never_crashes(
    rf, settings, forwarded, address
):
    from core.http import client_address

    settings.NUM_PROXIES = 1
    request = rf.get("/", HTTP_X_FORWARDED_FOR=f"198.51.100.1, {forwarded}")
    assert client_address(request) == address


@pytest.mark.django_db
def test_lookup_and_signup_still_answer_when_the_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    timer = product_create(sku="TIMER", policy=BackorderPolicy.DENY)
    response = client.post("/orders/lookup/", {"number": "100001", "email": "a@example.com"})
    assert response.status_code == 400
    response = client.post(f"/products/{timer.slug}/notify-me/", {"email": "a@example.com"})
    assert response.status_code == 302 and timer.back_in_stock_signups.count() == 1


@pytest.mark.django_db
def test_a_control_character_in_a_header_is_a_400(client, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "right-password-1")
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "boss", "password": "wrong"},
        HTTP_USER_AGENT="evil\x00agent",
    )
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("row_id", ["x", str(2**63), "1.5"])
def test_a_queue_priority_edit_with_a_mangled_row_id_is_refused(admin_client, row_id):
    order = order_create({product_create(sku="GRINDER"): 1})
    line = order.lines.get()
    response = admin_client.post(
        "/admin/backorders/queuedbackorder/",
        {
            "_save": "Save",
            "form-TOTAL_FORMS": 1,
            "form-INITIAL_FORMS": 1,
            "form-0-id": row_id,
            "form-0-priority": 9,
        },
    )
    assert response.status_code == 302
    line.refresh_from_db()
    assert line.priority == 0
