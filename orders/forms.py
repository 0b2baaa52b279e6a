from django import forms
from django.core.validators import MaxValueValidator

from orders.cart import max_line_quantity
from orders.models import Order, ShippingPreference
from orders.promises import ANSWERS
from orders.selectors import CartLine, backorders_unaccepted
from payments.forms import CardForm


class CartAddForm(forms.Form):
    product_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    quantity = forms.IntegerField(label="Quantity", min_value=1)

    def clean_quantity(self) -> int:
        quantity = self.cleaned_data["quantity"]
        if quantity > max_line_quantity():
            raise forms.ValidationError(
                "At most %(max)s units of one item per order.", params={"max": max_line_quantity()}
            )
        return quantity


class CartUpdateForm(CartAddForm):
    """Setting a quantity to 0 removes the item."""

    quantity = forms.IntegerField(label="Quantity", min_value=0)


def split_of(lines: list[CartLine]) -> str:
    """What the checkout page tells the shopper, as text it can carry in the form:
    each product with its units from stock and on back-order."""
    return ";".join(f"{line.product.pk}:{line.allocate_now}:{line.backorder}" for line in lines)


def backorders_in(split: str) -> dict[int, int]:
    """{product id: units on back-order} of a split_of() text; what is not understood
    counts as nothing shown."""
    shown = {}
    for part in split.split(";"):
        pid, _, rest = part.partition(":")
        _, _, units = rest.partition(":")
        if pid.isascii() and pid.isdigit() and units.isascii() and units.isdigit():
            shown[int(pid)] = int(units)
    return shown


class CheckoutForm(CardForm):
    """Built from the cart lines as they are now. It carries two hidden fields: a
    checkout key, which makes a repeated submit of the same form land on the order it
    placed, and the split the shopper was shown, so that when stock changed under them
    the page they get back says so instead of asking for a box they never saw, and
    their consent never covers more back-ordered units than they saw. Its card
    fields pay for the units in stock now and are saved for the rest."""

    # Fields the order keeps are the order's own columns' form fields: the form can
    # never accept more than the database holds.
    email = Order._meta.get_field("email").formfield(
        label="Email",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"required": "Enter your email: we send the confirmation there."},
    )
    name = Order._meta.get_field("name").formfield(
        label="Full name",
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        error_messages={"required": "Enter the name to ship to."},
    )
    shipping_address = Order._meta.get_field("shipping_address").formfield(
        label="Shipping address",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "street-address"}),
        error_messages={"required": "Enter the address to ship to."},
    )
    shipping_preference = forms.ChoiceField(
        label="When should we ship?",
        choices=ShippingPreference.choices,
        initial=ShippingPreference.SHIP_READY_NOW,
        widget=forms.RadioSelect,
    )
    accept_backorder = forms.BooleanField(
        label="I agree to wait for the back-ordered items: they ship by the date shown, or "
        "before then you will be asked whether to wait longer or cancel for a full refund.",
        required=False,
    )
    # Not required: a client that posts without it (a script) just gets no protection
    # from its own repeats.
    checkout_key = Order._meta.get_field("checkout_key").formfield(widget=forms.HiddenInput)
    split_seen = forms.CharField(required=False, widget=forms.HiddenInput)

    field_order = ["email", "name", "shipping_address", "shipping_preference", "accept_backorder"]

    def __init__(self, data=None, *, lines: list[CartLine], checkout_key: str, known_keys: set):
        self.known_keys = known_keys
        self.backorders = {line.product.pk: line.backorder for line in lines if line.backorder}
        self.needs_backorder = bool(self.backorders)
        split = split_of(lines)
        # The split the shopper acted on (None from a client that sends none); the page
        # rendered now shows the new one.
        seen = data.get("split_seen") if data is not None else None
        self.stock_changed = seen is not None and seen != split
        # Consent covers the back-orders the shopper was shown, no more.
        self.backorders_shown = None if seen is None else backorders_in(seen)
        if data is not None:
            data = data.copy()
            data["split_seen"] = split
            # A page without the choice implied the default: keep it when asking again.
            data.setdefault("shipping_preference", ShippingPreference.SHIP_READY_NOW)
        super().__init__(data, initial={"checkout_key": checkout_key})
        self.fields["split_seen"].initial = split
        if not self.needs_backorder:
            # Nothing waits, so there is nothing to choose or accept.
            del self.fields["shipping_preference"]
            del self.fields["accept_backorder"]

    def clean_checkout_key(self) -> str:
        # A key this session did not issue protects nothing and names no order.
        key = self.cleaned_data["checkout_key"]
        return key if key in self.known_keys else ""

    def clean(self):
        cleaned = super().clean()
        if backorders_unaccepted(
            backorders=self.backorders,
            accepted=cleaned.get("accept_backorder", False),
            shown=self.backorders_shown,
        ):
            self.add_error(
                "accept_backorder",
                "Tick this box to place the order with back-ordered items, or change your cart.",
            )
        return cleaned

    def placement_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "checkout_key": data["checkout_key"],
            "email": data["email"],
            "name": data["name"],
            "shipping_address": data["shipping_address"],
            "shipping_preference": data.get(
                "shipping_preference", ShippingPreference.SHIP_READY_NOW
            ),
            "backorder_accepted": data.get("accept_backorder", False),
            "backorders_shown": self.backorders_shown,
        }


class PayDueForm(CardForm):
    """Pay what is due on an order with another card, after a charge failed."""


class CancelBackorderForm(forms.Form):
    """How many of a line's waiting units to cancel (all, unless told), and whether
    the customer has confirmed it on the page that asks."""

    units = forms.IntegerField(label="Units to cancel", min_value=1, required=False)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, waiting: int):
        super().__init__(data, initial={"units": waiting})
        self.waiting = waiting
        self.fields["units"].validators.append(MaxValueValidator(waiting))
        self.fields["units"].widget.attrs.update({"min": 1, "max": waiting})

    def clean_units(self) -> int:
        return self.cleaned_data["units"] or self.waiting


class DelayAnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=[(answer, answer.label) for answer in ANSWERS])


class ShippingPreferenceForm(forms.Form):
    shipping_preference = forms.ChoiceField(choices=ShippingPreference.choices)


class OrdersByEmailForm(forms.Form):
    email = Order._meta.get_field("email").formfield(
        label="Email used at checkout",
        error_messages={"required": "Enter the email you ordered with."},
    )


class OrderLookupForm(forms.Form):
    number = forms.CharField(label="Order number", max_length=20)
    email = Order._meta.get_field("email").formfield(label="Email used at checkout")
