from django.contrib import admin, messages
from django.db.models import Prefetch
from django.template.loader import render_to_string

from orders.exceptions import OrderError
from orders.models import DelayNotice, Order, OrderLine
from orders.services import orders_ship


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
        "priority",
        "queued_at",
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

    def has_ship_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_order")

    @admin.action(description="Ship the ready units of the selected orders", permissions=["ship"])
    def ship_ready_units(self, request, queryset):
        for order, outcome in orders_ship(orders=queryset):
            if isinstance(outcome, OrderError):
                self.message_user(request, outcome.message, messages.WARNING)
            else:
                self.message_user(request, f"Order {order.number}: shipped {outcome} unit(s).")
