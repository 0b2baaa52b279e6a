from django import forms

from orders.cart import max_line_quantity
from orders.models import ShippingPreference


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


class CheckoutForm(forms.Form):
    email = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    name = forms.CharField(
        label="Full name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    shipping_address = forms.CharField(
        label="Shipping address",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "street-address"}),
    )
    shipping_preference = forms.ChoiceField(
        label="When should we ship?",
        choices=ShippingPreference.choices,
        initial=ShippingPreference.SHIP_READY_NOW,
        widget=forms.RadioSelect,
    )
    accept_backorder = forms.BooleanField(
        label="I understand that back-ordered items ship when stock arrives, and that a date "
        "is only promised once a delivery to the store is confirmed.",
        required=False,
    )

    def __init__(self, *args, needs_backorder: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_backorder = needs_backorder
        if needs_backorder:
            self.fields["accept_backorder"].required = True
        else:
            # Nothing waits, so there is nothing to choose or accept.
            del self.fields["shipping_preference"]
            del self.fields["accept_backorder"]

    def placement_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "email": data["email"],
            "name": data["name"],
            "shipping_address": data["shipping_address"],
            "shipping_preference": data.get(
                "shipping_preference", ShippingPreference.SHIP_READY_NOW
            ),
            "backorder_accepted": data.get("accept_backorder", False),
        }


class ShippingPreferenceForm(forms.Form):
    shipping_preference = forms.ChoiceField(choices=ShippingPreference.choices)


class OrderLookupForm(forms.Form):
    number = forms.CharField(label="Order number", max_length=20)
    email = forms.EmailField(label="Email used at checkout")
