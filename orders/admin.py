from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path

from orders.billing import order_line_return
from orders.exceptions import OrderError
from orders.models import DelayNotice, Order, OrderLine
from orders.selectors import order_money
from orders.services import orders_ship


class ReturnForm(forms.Form):
    line = forms.TypedChoiceField(label="Line", coerce=int)
    units = forms.IntegerField(label="Units returned", min_value=1, max_value=10_000)
    reason = forms.CharField(
        label="Reason (the customer is told)", max_length=300, widget=forms.TextInput
    )

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = {line.pk: line for line in lines}
        self.fields["line"].choices = [
            (line.pk, f"{line.product.name}: {line.shipped - line.returned} shipped, returnable")
            for line in lines
        ]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = [
        "product",
        "unit_price",
        "quantity",
        "allocated",
        "backordered",
        "shipped",
        "cancelled",
        "paid",
        "returned",
        "priority",
        "promised_by",
        "eta",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders change only through services: staff ship from the action below."""

    list_display = ["number", "created_at", "name", "email", "status", "shipping_preference"]
    list_filter = ["shipping_preference", "created_at"]
    search_fields = ["email", "name"]
    readonly_fields = [
        "number",
        "status",
        "created_at",
        "email",
        "name",
        "shipping_address",
        "shipping_preference",
        "backorder_accepted",
        "payment_record",
        "delay_record",
    ]
    fields = readonly_fields
    inlines = [OrderLineInline]
    actions = ["ship_ready_units"]

    def get_queryset(self, request):
        lines = OrderLine.objects.select_related("product")
        return super().get_queryset(request).prefetch_related(Prefetch("lines", queryset=lines))

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        pk = Order.pk_from_number(search_term)
        if pk is not None:
            results |= queryset.filter(pk=pk)
        return results, may_have_duplicates

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="number", ordering="pk")
    def number(self, order: Order) -> str:
        return order.number

    @admin.display(description="status")
    def status(self, order: Order) -> str:
        return order.status.label

    @admin.display(description="delays")
    def delay_record(self, order: Order) -> str:
        """Every delay notice of the order: what was promised, what was offered, and
        who settled it when: the record the FTC rule expects a store to keep."""
        notices = DelayNotice.objects.filter(line__order=order).select_related("line__product")
        return render_to_string(
            "admin/orders/_delay_record.html", {"notices": notices.order_by("pk")}
        )

    @admin.display(description="payments")
    def payment_record(self, order: Order) -> str:
        """Every charge and refund of the order, as the provider saw it."""
        payments = list(order.payments.order_by("pk"))
        names = {line.pk: line.product.name for line in order.lines.all()}
        for payment in payments:
            payment.lines = [(names.get(int(pk), pk), n) for pk, n in payment.units.items()]
        return render_to_string(
            "admin/orders/_payments.html",
            {
                "order": order,
                "money": order_money(order=order),
                "payments": payments,
                "returnable": any(line.shipped > line.returned for line in order.lines.all()),
            },
        )

    def get_urls(self):
        return [
            path(
                "<int:order_id>/return/",
                self.admin_site.admin_view(self.return_view),
                name="orders_order_return",
            ),
            *super().get_urls(),
        ]

    def return_view(self, request, order_id: int):
        """Staff take back shipped units and refund what they cost, with a reason."""
        if not request.user.has_perm("orders.refund_order"):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=order_id)
        lines = [line for line in order.lines.all() if line.shipped > line.returned]
        form = ReturnForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            try:
                amount = order_line_return(
                    line=form.lines[form.cleaned_data["line"]],
                    units=form.cleaned_data["units"],
                    reason=form.cleaned_data["reason"],
                )
            except OrderError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"Refunded {amount} for the return; customer told.")
                return redirect("admin:orders_order_change", order.pk)
        return TemplateResponse(
            request,
            "admin/orders/return.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Refund a return on order {order.number}",
                "order": order,
                "form": form,
            },
            status=400 if form.errors else 200,
        )

    def has_ship_permission(self, request) -> bool:
        return request.user.has_perm("orders.ship_order")

    @admin.action(description="Ship the ready units of the selected orders", permissions=["ship"])
    def ship_ready_units(self, request, queryset):
        for order, outcome in orders_ship(orders=queryset):
            if isinstance(outcome, OrderError):
                self.message_user(request, outcome.message, messages.WARNING)
            else:
                self.message_user(request, f"Order {order.number}: shipped {outcome} unit(s).")
