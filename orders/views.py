from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from catalog.models import Product
from catalog.selectors import in_stock_alternatives
from core.limits import rate_limited
from core.pages import PageContent, page_cached
from core.versions import versioned
from orders.billing import order_checkout, order_pay_due, payment_event_reconcile
from orders.cart import Cart
from orders.exceptions import BackorderNotAccepted, OrderError
from orders.forms import (
    CancelBackorderForm,
    CartAddForm,
    CartUpdateForm,
    CheckoutForm,
    DelayAnswerForm,
    OrderLookupForm,
    OrdersByEmailForm,
    PayDueForm,
    ShippingPreferenceForm,
)
from orders.models import DelayNotice, Order
from orders.promises import notice_facts
from orders.selectors import (
    cart_lines,
    delay_notices_open,
    line_states,
    order_by_checkout_key,
    order_by_token,
    order_lookup,
    order_money,
    order_status_json,
    order_versions,
)
from orders.services import (
    delay_notice_answer,
    order_cancel_backorders,
    order_shipping_preference_set,
    orders_list_send,
)
from payments.exceptions import PaymentError
from payments.providers import provider


def _cart_page(request, cart: Cart, *, status: int = 200, error: str = ""):
    lines = cart_lines(quantities=cart.by_product())
    cart.keep_only({line.product.pk for line in lines})
    # Products in stock instead of what waits or cannot be bought: one query.
    waiting = [line.product.pk for line in lines if line.backorder or line.refusal]
    alternatives = in_stock_alternatives(product_ids=waiting) if waiting else {}
    return render(
        request,
        "orders/cart.html",
        {
            "lines": lines,
            "rows": [(line, alternatives.get(line.product.pk, [])) for line in lines],
            "total": sum(line.line_total for line in lines),
            "can_check_out": bool(lines) and not any(line.refusal for line in lines),
            "error": error,
        },
        status=status,
    )


def cart_view(request):
    return _cart_page(request, Cart(request.session))


@require_POST
def cart_add_view(request):
    cart = Cart(request.session)
    form = CartAddForm(request.POST)
    if not form.is_valid():
        return _cart_page(request, cart, status=400, error=_first_error(form))
    product = get_object_or_404(Product, pk=form.cleaned_data["product_id"])
    total = cart.add(product.pk, form.cleaned_data["quantity"])
    permitted, reason = product.purchase_policy.is_purchase_permitted(total)
    if permitted:
        messages.success(request, f"{product.name}: {total} in your cart.")
    else:  # the cart line says so too; the message must not contradict it
        messages.warning(request, f"{product.name} {reason}; your cart has {total}.")
    return redirect("orders:cart")


@require_POST
def cart_update_view(request):
    cart = Cart(request.session)
    form = CartUpdateForm(request.POST)
    if not form.is_valid():
        return _cart_page(request, cart, status=400, error=_first_error(form))
    if form.cleaned_data["quantity"]:  # removing needs no product; setting does
        get_object_or_404(Product, pk=form.cleaned_data["product_id"])
    cart.set_quantity(form.cleaned_data["product_id"], form.cleaned_data["quantity"])
    return redirect("orders:cart")


@never_cache
def checkout_view(request):
    cart = Cart(request.session)
    key = request.POST.get("checkout_key", "")
    if key in cart.checkout_keys() and (placed := order_by_checkout_key(key=key)):
        return redirect(placed)  # this form again: its order is placed already
    lines = cart_lines(quantities=cart.by_product())
    if not lines:
        messages.info(request, "Your cart is empty.")
        return redirect("orders:cart")
    keys = {"checkout_key": cart.checkout_key(), "known_keys": cart.checkout_keys()}
    form = CheckoutForm(request.POST or None, lines=lines, **keys)
    if request.method == "POST" and form.is_valid():
        try:
            order = order_checkout(
                quantities=cart.by_product(),
                card=form.card(),
                charge_now=sum(line.charge_now for line in lines),
                **form.placement_kwargs(),
            )
        except PaymentError as error:
            form.add_error(None, f"{error.message} Nothing was charged and no order placed.")
        except OrderError as error:
            # Stock changed between this page's first read and the placement: show the
            # cart as it is now, with what the shopper typed, and ask again.
            lines = cart_lines(quantities=cart.by_product())
            form = CheckoutForm(request.POST, lines=lines, **keys)
            if not isinstance(error, BackorderNotAccepted):
                form.add_error(None, error.message)
            elif form.is_valid():  # and changed back since: nothing to accept now
                form.add_error(
                    None,
                    "Stock changed while you were checking out. Please "
                    "check your order below and place it again.",
                )
        else:
            cart.checkout_placed(form.cleaned_data["checkout_key"])
            messages.success(
                request,
                f"Thank you: order {order.number} is placed. We emailed the confirmation "
                f"to {order.email}.",
            )
            return redirect(order)
    return render(
        request,
        "orders/checkout.html",
        {
            "form": form,
            "lines": lines,
            "total": sum(line.line_total for line in lines),
            "charge_now": sum(line.charge_now for line in lines),
            "charge_later": sum(line.line_total - line.charge_now for line in lines),
        },
        status=400 if form.errors else 200,
    )


def _order_or_404(token: str):
    order = order_by_token(token=token)
    if order is None:
        raise Http404("No such order.")
    return order


@never_cache
def order_status_view(request, token: str):
    return page_cached(
        request, key=f"order:{token}", content=lambda: _status_page(_order_or_404(token))
    )


def _status_page(order: Order, *, pay_form=None) -> PageContent:
    notices = [
        (
            notice,
            notice_facts(
                notice, product_name=notice.line.product.name, units=notice.line.backordered
            ),
        )
        for notice in delay_notices_open(order=order)
    ]
    return PageContent(
        "orders/status.html",
        {
            "order": order,
            "lines": line_states(lines=order.lines.all()),
            "money": order_money(order=order),
            "notices": notices,
            "pay_form": pay_form or (PayDueForm() if order.payment_due_by else None),
        },
        shows=order_versions(order=order),
    )


@require_POST
def order_pay_view(request, token: str):
    """Pay what is due with another card after a charge failed."""
    order = _order_or_404(token)
    form = PayDueForm(request.POST)
    if form.is_valid():
        try:
            charge = order_pay_due(order=order, card=form.card())
        except PaymentError as error:
            form.add_error(None, f"{error.message} Nothing was charged.")
        except OrderError as error:
            messages.info(request, error.message)
            return redirect(order)
        else:
            messages.success(
                request, f"Thank you: ${charge.amount} is paid. The units will ship soon."
            )
            return redirect(order)
    # The order read again: the attempt that failed may have changed its rows.
    page = _status_page(_order_or_404(token), pay_form=form)
    return render(request, page.template, page.context, status=400)


@never_cache
def order_status_json_view(request, token: str):
    try:
        body = versioned(key=f"order-json:{token}", make=lambda: _status_json(token))
    except Http404:
        return JsonResponse({"error": "not found"}, status=404)
    return HttpResponse(body, content_type="application/json")


def _status_json(token: str) -> tuple[bytes, list[str]]:
    order = _order_or_404(token)
    return JsonResponse(order_status_json(order=order)).content, order_versions(order=order)


@require_POST
def order_cancel_backorder_view(request, token: str, line_id: int):
    """The order page's button asks here how many, and to confirm; only the confirmed
    POST cancels, so a stray click cancels nothing."""
    order = _order_or_404(token)
    line = next((line for line in order.lines.all() if line.pk == line_id), None)
    if line is None or not line.backordered:
        messages.error(request, "That line has no back-ordered units to cancel.")
        return redirect(order)
    form = CancelBackorderForm(request.POST, waiting=line.backordered)
    if not (form.is_valid() and form.cleaned_data["confirm"]):
        return render(
            request,
            "orders/cancel_confirm.html",
            {"order": order, "line": line, "form": form},
            status=400 if form.errors else 200,
        )
    try:
        units = order_cancel_backorders(
            order=order, line_ids=[line.pk], units=form.cleaned_data["units"]
        )
    except OrderError as error:
        messages.error(request, error.message)
    else:
        left = line.backordered - units
        still = f"; {left} still on back-order, keeping their place" if left else ""
        messages.success(request, f"Cancelled {units} back-ordered × {line.product.name}{still}.")
    return redirect(order)


ANSWERED = {
    DelayNotice.Outcome.WAIT: "Thank you: we keep your place in the queue.",
    DelayNotice.Outcome.CANCEL: "Cancelled: you will not be charged for those units.",
    DelayNotice.Outcome.RESOLVED: "Good news: those units have arrived, so there is nothing "
    "to decide.",
}


@require_POST
def order_delay_answer_view(request, token: str, notice_id: int):
    order = _order_or_404(token)
    form = DelayAnswerForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose to wait or to cancel.")
    try:
        notice = delay_notice_answer(
            order=order, notice_id=notice_id, answer=form.cleaned_data["answer"]
        )
    except OrderError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, ANSWERED[notice.outcome])
    return redirect(order)


@require_POST
def order_shipping_preference_view(request, token: str):
    order = _order_or_404(token)
    form = ShippingPreferenceForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown shipping preference.")
    try:
        order_shipping_preference_set(
            order=order, preference=form.cleaned_data["shipping_preference"]
        )
    except OrderError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Shipping: {order.get_shipping_preference_display()}.")
    return redirect(order)


@never_cache
def order_lookup_view(request):
    form = OrderLookupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if _too_many(request, form, group="order-lookup", what="lookups"):
            status = 429
        elif form.is_valid():
            order = order_lookup(**form.cleaned_data)
            if order is not None:
                return redirect(order)
            # One answer for a wrong number and a wrong email alike.
            form.add_error(None, "No order matches that number and email.")
    return render(request, "orders/lookup.html", {"form": form}, status=status)


@never_cache
def orders_by_email_view(request):
    """Email me my orders: the same answer whether or not any order has that email, so
    the page tells nobody who shops here; rate limited like the lookup."""
    form = OrdersByEmailForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if _too_many(request, form, group="orders-by-email", what="requests"):
            status = 429
        elif form.is_valid():
            orders_list_send(email=form.cleaned_data["email"])
            messages.success(
                request,
                "If any orders were placed with that email, a list of links to them is on "
                "its way there.",
            )
            return redirect("orders:find")
    return render(request, "orders/find.html", {"form": form}, status=status)


def _too_many(request, form, *, group: str, what: str) -> bool:
    """Count this POST against ORDER_LOOKUP_RATE_LIMIT, shared by the pages that find
    orders from what a customer types; over it, the form says so."""
    if rate_limited(request, group=group, per_ten_minutes=settings.ORDER_LOOKUP_RATE_LIMIT):
        form.add_error(None, f"Too many {what} from here. Please wait a few minutes.")
        return True
    return False


def _first_error(form) -> str:
    return next(
        (f"{form.fields[field].label or field}: {errors[0]}" if field != "__all__" else errors[0])
        for field, errors in form.errors.items()
    )


def _stripe_or_404():
    gateway = provider()
    if gateway.name != "stripe":
        raise Http404("Stripe is not configured.")
    return gateway


@csrf_exempt  # Stripe signs the request instead
@require_POST
def stripe_webhook_view(request):
    """Stripe tells of payments and refunds: a verified event settles any row left
    pending. An unverified one changes nothing."""
    gateway = _stripe_or_404()
    try:
        event = gateway.event_verify(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except PaymentError as error:
        return JsonResponse({"error": error.message}, status=400)
    if event.kind.startswith(("payment_intent.", "refund.")) and event.key:
        payment_event_reconcile(
            kind=event.kind, key=event.key, provider_id=event.provider_id, error=event.error
        )
    return JsonResponse({"received": True})


# Each setup makes a Customer and a SetupIntent at Stripe: a few per shopper are plenty.
CARD_SETUPS_PER_TEN_MINUTES = 30


@require_POST
def stripe_card_setup_view(request):
    """Stripe.js asks for a SetupIntent before it confirms the card the shopper typed
    (CSRF-checked like every POST, and rate limited per client)."""
    gateway = _stripe_or_404()
    field = Order._meta.get_field("email").formfield()
    try:
        email = field.clean(request.POST.get("email", ""))
    except ValidationError:
        return JsonResponse(
            {"error": "Enter your email first: the card is saved for it."}, status=400
        )
    if rate_limited(request, group="card-setup", per_ten_minutes=CARD_SETUPS_PER_TEN_MINUTES):
        return JsonResponse({"error": "Too many tries: please wait a few minutes."}, status=429)
    try:
        secret = gateway.card_setup_begin(email=email)
    except PaymentError as error:
        return JsonResponse({"error": error.message}, status=502)
    return JsonResponse({"client_secret": secret})
