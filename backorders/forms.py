from django import forms

from backorders.models import BackInStockSignup
from catalog.models import StockMovement


class ReceiveStockForm(forms.Form):
    """Parses; the rules for a receipt are the receiving service's (StockError)."""

    quantity = forms.IntegerField(
        label="Units received", widget=forms.NumberInput(attrs={"min": 1})
    )
    reference = StockMovement._meta.get_field("reference").formfield(
        label="Reference", help_text="Delivery note or PO number."
    )


class BackInStockSignupForm(forms.Form):
    email = BackInStockSignup._meta.get_field("email").formfield(label="Your email")


class StaffCancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason the customer will read",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
