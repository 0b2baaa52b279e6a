from django import forms

from backorders.services import MAX_RECEIPT_QUANTITY


class ReceiveStockForm(forms.Form):
    quantity = forms.IntegerField(
        label="Units received", min_value=1, max_value=MAX_RECEIPT_QUANTITY
    )
    reference = forms.CharField(
        label="Reference", max_length=120, required=False, help_text="Delivery note or PO number."
    )


class BackInStockSignupForm(forms.Form):
    email = forms.EmailField(label="Your email")


class StaffCancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason the customer will read",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
