from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from orders.billing import order_line_return
from orders.exceptions import OrderError
from orders.models import DelayNotice, Order, OrderLine, OrderStatus
from orders.selectors import order_money, order_timeline, pick_list
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
    # Five columns, the units in one sentence: readable beside the sidebar and on a phone.
    fields = ["product", "unit_price", "units", "promised_by", "eta"]
    readonly_fields = fields
    can_delete = False

    @admin.display(description="units")
    def units(self, line: OrderLine) -> str:
        states = [
            (line.allocated, "allocated"),
            (line.backordered, "waiting"),
            (line.shipped, "shipped"),
            (line.cancelled, "cancelled"),
            (line.paid, "paid for"),
            (line.returned, "returned"),
        ]
        told = ", ".join(f"{units} {state}" for units, state in states if units)
        return f"{line.quantity} ordered: {told}"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OrderNumberSearch:
    """Admin search also finds an order by its number as customers quote it ("#100042")."""

    order_id_field = "pk"  # where the searched rows keep the order's id

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        pk = Order.pk_from_number(search_term)
        if pk is not None:
            results |= queryset.filter(**{self.order_id_field: pk})
        return results, may_have_duplicates


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return OrderStatus.choices

    def queryset(self, request, queryset):
        if self.value() in OrderStatus.values:
            return queryset.with_status(OrderStatus(self.value()))
        return queryset


class ShipsNowFilter(admin.SimpleListFilter):
    """The shipping list: orders with units that may leave now, by their preference."""

    title = "can ship now"
    parameter_name = "ships_now"

    def lookups(self, request, model_admin):
        return [("yes", "Units ready to ship now")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.ready_to_ship()
        return queryset


@admin.register(Order)
class OrderAdmin(OrderNumberSearch, admin.ModelAdmin):
    """Orders change only through services, so the page is read-only (no Save
    buttons); staff ship, print pick lists and refund returns from the actions."""

    list_display = [
        "number",
        "created_at",
        "name",
        "email",
        "status",
        "total",
        "shipping_preference",
    ]
    list_filter = [StatusFilter, ShipsNowFilter, "shipping_preference", "created_at"]
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
        "total",
        "payment_record",
        "delay_record",
        "timeline",
    ]
    fields = readonly_fields
    inlines = [OrderLineInline]
    actions = ["ship_ready_units", "print_pick_list"]

    def get_queryset(self, request):
        lines = OrderLine.objects.select_related("product")
        return super().get_queryset(request).prefetch_related(Prefetch("lines", queryset=lines))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        title = f"Order {order.number}" if order else None
        return super().change_view(request, object_id, form_url, {"title": title})

    @admin.display(description="number", ordering="pk")
    def number(self, order: Order) -> str:
        return order.number

    @admin.display(description="status")
    def status(self, order: Order) -> str:
        return order.status.label

    @admin.display(description="total")
    def total(self, order: Order) -> str:
        """What the units still bought cost, after the back-order discount."""
        amount = sum((line.line_total for line in order.lines.all()), Decimal("0.00"))
        return f"{amount} {settings.STORE_CURRENCY.upper()}"

    @admin.display(description="timeline")
    def timeline(self, order: Order) -> str:
        return render_to_string(
            "admin/orders/_timeline.html", {"events": order_timeline(order=order)}
        )

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
            path(
                "shipping/",
                self.admin_site.admin_view(self.shipping_view),
                name="orders_order_shipping",
            ),
            *super().get_urls(),
        ]

    def shipping_view(self, request):
        """The shipping list is the order list filtered to what may ship now."""
        if not self.has_ship_permission(request):
            raise PermissionDenied
        url = reverse("admin:orders_order_changelist")
        return redirect(f"{url}?{ShipsNowFilter.parameter_name}=yes")

    def return_view(self, request, order_id: int):
        """Staff take back shipped units and refund what they cost, with a reason."""
        if not request.user.has_perm("orders.refund_order"):
            raise PermissionDenied
        order = get_object_or_404(self.get_queryset(request), pk=order_id)
        lines = [line for line in order.lines.all() if line.shipped > line.returned]
        form = ReturnForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            line, units = form.lines[form.cleaned_data["line"]], form.cleaned_data["units"]
            reason = form.cleaned_data["reason"]
            try:
                with transaction.atomic():  # the refund's record and the staff log, or neither
                    amount = order_line_return(line=line, units=units, reason=reason)
                    self.log_change(
                        request,
                        order,
                        f"Refunded {amount} for {units} × {line.product.name} returned. "
                        f"Reason: {reason}",
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

    @admin.action(
        description="Mark the ready units of the selected orders shipped", permissions=["ship"]
    )
    def ship_ready_units(self, request, queryset):
        for order, outcome in orders_ship(orders=queryset):
            if isinstance(outcome, OrderError):
                self.message_user(request, outcome.message, messages.WARNING)
            else:
                self.log_change(request, order, f"Shipped {outcome} unit(s).")
                self.message_user(request, f"Order {order.number}: shipped {outcome} unit(s).")

    @admin.action(description="Print a pick list for the selected orders", permissions=["ship"])
    def print_pick_list(self, request, queryset):
        items = pick_list(orders=queryset)
        return TemplateResponse(
            request,
            "admin/orders/pick_list.html",
            {
                **self.admin_site.each_context(request),
                "title": "Pick list",
                "items": items,
                "orders": sorted({item.order_number for item in items}),
                "units": sum(item.units for item in items),
                "skipped": queryset.count() - len({item.order_number for item in items}),
                "printed_at": timezone.now(),
            },
        )
