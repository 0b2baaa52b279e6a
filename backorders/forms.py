import csv
import io
import itertools

from django import forms
from django.core.exceptions import ValidationError

from backorders.models import BackInStockSignup, InboundShipment
from backorders.services import Receipt
from catalog.exceptions import StockError
from catalog.models import Inbound, Product, StockMovement
from catalog.services import inbound_check, stock_quantity_check
from core.text import text_problem


class ReceiveStockForm(forms.Form):
    """Parses; the rules for a receipt or an inbound are the receiving services'
    (StockError). With an expected date it announces an inbound instead, as the
    receive_stock command does with --expected-date."""

    quantity = forms.IntegerField(label="Units", widget=forms.NumberInput(attrs={"min": 1}))
    reference = StockMovement._meta.get_field("reference").formfield(
        label="Reference", help_text="Delivery note or PO number."
    )
    expected_date = forms.DateField(
        label="Expected date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty when the units are here now. With a date nothing is received: an "
        "inbound expected that day is recorded, and the waiting back-orders it covers get "
        "that date.",
    )

    def clean(self):
        # The services' rules, checked before the preview too, so it never previews a
        # receipt the confirmation would refuse.
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            if cleaned["expected_date"]:
                inbound_check(
                    quantity=cleaned["quantity"],
                    expected_date=cleaned["expected_date"],
                    reference=cleaned["reference"],
                )
            else:
                stock_quantity_check(quantity=cleaned["quantity"], reference=cleaned["reference"])
        except StockError as error:
            error.add_to(self)
        return cleaned


class InboundReceiveForm(forms.Form):
    quantity = forms.IntegerField(
        label="Units that arrived",
        widget=forms.NumberInput(attrs={"min": 1}),
        help_text="All of the inbound unless the delivery was short or over.",
    )

    def clean_quantity(self) -> int:
        try:
            stock_quantity_check(quantity=self.cleaned_data["quantity"])
        except StockError as error:
            raise ValidationError(error.message) from None
        return self.cleaned_data["quantity"]


MAX_RECEIPT_ROWS = 20_000
MAX_RECEIPTS_FILE_BYTES = 2 * 1024 * 1024
RECEIPT_COLUMNS = ["sku", "quantity", "reference"]


class ReceiptsUploadForm(forms.Form):
    """A CSV of receipts (sku,quantity,reference), checked whole: every row's problem
    is listed by its row number and nothing is applied until there are none."""

    file = forms.FileField(
        label="CSV file",
        help_text=f"Columns {','.join(RECEIPT_COLUMNS)}, with that header row; UTF-8; up to "
        f"{MAX_RECEIPT_ROWS:,} rows.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self) -> list[Receipt]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_RECEIPTS_FILE_BYTES:
            raise ValidationError(
                f"The file is over {MAX_RECEIPTS_FILE_BYTES // (1024 * 1024)} MB; split it."
            )
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError("The file is not UTF-8 text.") from None
        rows, errors = receipt_rows(text)
        if errors:
            raise ValidationError(errors)
        return rows


def receipt_rows(text: str) -> tuple[list[Receipt], list[str]]:
    """The receipts of a CSV's text and the problems of its rows (row 1 is the header);
    the products are looked up in one query, the references in another."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        records = list(itertools.islice(reader, MAX_RECEIPT_ROWS + 1))
    except csv.Error as error:
        return [], [f"Row {reader.line_num}: {error}."]
    if header != RECEIPT_COLUMNS:
        return [], [f"The first row must be the header {','.join(RECEIPT_COLUMNS)}."]
    if len(records) > MAX_RECEIPT_ROWS:
        return [], [f"The file has more than {MAX_RECEIPT_ROWS:,} rows; split it."]
    numbered = [(n, record) for n, record in enumerate(records, start=2) if any(record)]
    if not numbered:
        return [], ["The file has no receipts under its header."]
    receipts, errors, rows_of_reference = [], [], {}
    # Text the database cannot hold (NUL) or no person typed is refused before any query.
    unreadable = {
        n: problem for n, record in numbered for problem in map(text_problem, record) if problem
    }
    errors += [f"Row {n}: a value {problem}." for n, problem in unreadable.items()]
    numbered = [(n, record) for n, record in numbered if n not in unreadable]
    skus = {record[0].strip() for _, record in numbered if record}
    products = dict(Product.objects.filter(sku__in=skus).values_list("sku", "pk"))
    references = {record[2].strip() for _, record in numbered if len(record) == 3}
    received = set(
        StockMovement.objects.filter(
            kind=StockMovement.Kind.RECEIPT, reference__in=references - {""}
        ).values_list("reference", flat=True)
    )
    for number, record in numbered:
        if len(record) != 3:
            errors.append(f"Row {number}: {len(record)} columns, not 3.")
            continue
        sku, quantity, reference = (value.strip() for value in record)
        problems = []
        if sku not in products:
            problems.append(f"unknown SKU {sku!r}")
        units = int(quantity) if quantity.isascii() and quantity.isdigit() else None
        try:
            stock_quantity_check(quantity=units, reference=reference)
        except StockError as error:
            message = error.message.rstrip(".")
            problems.append(f"quantity {quantity!r}: {message}" if error.field == "quantity"
                            else message)  # fmt: skip
        if reference in received:
            problems.append(f"reference {reference!r} was received already")
        if reference:
            rows_of_reference.setdefault(reference, []).append(number)
        if problems:
            errors.append(f"Row {number}: {'; '.join(problems)}.")
        else:
            receipts.append(Receipt(products[sku], units, reference))
    errors += [
        f"Rows {', '.join(map(str, rows))}: the reference {reference!r} appears more than once."
        for reference, rows in rows_of_reference.items()
        if len(rows) > 1
    ]
    return receipts, errors


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
