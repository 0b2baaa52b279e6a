from django import forms

from backorders.models import BackInStockSignup, InboundShipment
from catalog.exceptions import StockError
from catalog.models import Inbound, StockMovement
from catalog.services import inbound_check


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


class StaffReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason (kept on each order's timeline)",
        max_length=300,
        widget=forms.TextInput(attrs={"size": 60}),
    )


class InboundShipmentForm(forms.ModelForm):
    """Staff announce an inbound, or change its date or quantity when the supplier
    slips. The rule is the service's, checked here too so that it shows on the form;
    the service checks again under the product lock."""

    class Meta:
        model = InboundShipment
        fields = ["product", "quantity", "expected_date", "reference"]
        widgets = {"expected_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # what an inbound is does not change, only when and how many
            for name in ("product", "reference"):
                self.fields[name].disabled = True

    def clean(self):
        cleaned = super().clean()
        if self.errors or not self.has_changed():
            return cleaned
        try:
            inbound_check(
                quantity=cleaned["quantity"],
                expected_date=cleaned["expected_date"],
                reference=cleaned.get("reference", ""),
            )
        except StockError as error:
            error.add_to(self)
        reference = cleaned.get("reference", "")
        if (
            not self.instance.pk
            and reference
            and Inbound.objects.open().filter(reference=reference).exists()
        ):
            self.add_error("reference", "An open inbound already has this reference.")
        return cleaned
