import datetime

from django import forms
from django.conf import settings
from django.utils import timezone

from payments.providers import CardInput, provider


class CardForm(forms.Form):
    """The card fields of a form that pays. With Stripe the browser's Stripe.js makes
    a payment method from the card and posts only its id; the test provider (the
    embedded default) takes the test card's number here and keeps its last four
    digits."""

    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
        error_messages={"required": "Enter your card number."},
    )
    card_expiry = forms.CharField(
        label="Expiry (MM/YY)",
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "MM/YY"}),
        error_messages={"required": "Enter the card's expiry date, as MM/YY."},
    )
    card_cvc = forms.CharField(
        label="Security code (CVC)",
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
        error_messages={"required": "Enter the card's 3 or 4 digit security code."},
    )
    payment_method = forms.CharField(
        max_length=100,
        widget=forms.HiddenInput,
        error_messages={"required": "Enter your card details: the card was not read."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.uses_stripe = provider().name == "stripe"
        if self.uses_stripe:
            for name in ("card_number", "card_expiry", "card_cvc"):
                del self.fields[name]
        else:
            del self.fields["payment_method"]

    CARD_FIELDS = ("card_number", "card_expiry", "card_cvc")

    def card_fields(self) -> list:
        return [self[name] for name in self.CARD_FIELDS if name in self.fields]

    def fields_before_card(self) -> list:
        return [field for field in self.visible_fields() if field.name not in self.CARD_FIELDS]

    @property
    def stripe_publishable_key(self) -> str:
        return settings.STRIPE_PUBLISHABLE_KEY

    @property
    def stripe_js_url(self) -> str:
        return settings.STRIPE_JS_URL

    def clean_card_expiry(self) -> str:
        text = self.cleaned_data["card_expiry"].replace(" ", "")
        month, _, year = text.partition("/")
        if not (month.isascii() and month.isdigit() and year.isascii() and year.isdigit()):
            raise forms.ValidationError("Enter the expiry as MM/YY, for example 04/29.")
        month_n, year_n = int(month), int(year) % 100 + 2000
        if not 1 <= month_n <= 12:
            raise forms.ValidationError("The expiry month must be 01 to 12.")
        today = timezone.localdate()
        if datetime.date(year_n, month_n, 1) < today.replace(day=1):
            raise forms.ValidationError("This card has expired.")
        return text

    def clean_card_cvc(self) -> str:
        cvc = self.cleaned_data["card_cvc"].strip()
        if not (cvc.isascii() and cvc.isdigit() and 3 <= len(cvc) <= 4):
            raise forms.ValidationError("The security code is the 3 or 4 digits on the card.")
        return cvc

    def card(self) -> CardInput:
        data = self.cleaned_data
        return CardInput(number=data.get("card_number", ""), token=data.get("payment_method", ""))
