from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from backorders.forms import InboundShipmentForm, ReceiveStockForm, StaffCancelForm
from backorders.models import BackInStockSignup, InboundShipment, ProductStock, QueuedBackorder
from backorders.services import (
    inbound_announce,
    inbound_cancel,
    inbound_receive,
    inbound_revise,
    stock_receive,
)
from catalog.exceptions import StockError
from core.admin import ReadOnlyAdmin
from orders.models import QUEUE_ORDER
from orders.services import order_line_reprioritize, order_lines_cancel_by_staff


@admin.register(ProductStock)
class ProductStockAdmin(ReadOnlyAdmin):
    list_display = [
        "sku",
        "name",
        "on_hand",
        "allocated",
        "available",
        "backordered",
        "backorder_policy",
        "actions_column",
    ]
    list_filter = ["backorder_policy", "category"]
    search_fields = ["sku", "name"]
    ordering = ["-backordered", "sku"]

    @admin.display(description="available")
    def available(self, product) -> int:
        return product.available

    @admin.display(description="")
    def actions_column(self, product):
        queue = reverse("admin:backorders_queuedbackorder_changelist")
        return format_html(
            '<a href="{}">Receive stock</a> · <a href="{}?product__id__exact={}">Queue</a>',
            reverse("admin:backorders_productstock_receive", args=[product.pk]),
            queue,
            product.pk,
        )

    def get_urls(self):
        receive = path(
            "<int:product_id>/receive/",
            self.admin_site.admin_view(self.receive_view),
            name="backorders_productstock_receive",
        )
        return [receive, *super().get_urls()]

    def receive_view(self, request, product_id: int):
        if not request.user.has_perm("backorders.receive_stock"):
            raise PermissionDenied
        product = get_object_or_404(ProductStock, pk=product_id)
        form = ReceiveStockForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                stock_receive(product=product, **form.cleaned_data)
            except StockError as error:
                error.add_to(form)
            else:
                messages.success(
                    request,
                    f"Received {form.cleaned_data['quantity']} × {product.sku}; waiting "
                    "back-orders are being allocated.",
                )
                return redirect("admin:backorders_productstock_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Receive stock: {product}",
            "product": product,
            "form": form,
        }
        return TemplateResponse(request, "admin/backorders/receive_stock.html", context)


class InboundStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("received", "Received"), ("cancelled", "Cancelled")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.open()
        if self.value() == "received":
            return queryset.filter(received_at__isnull=False)
        if self.value() == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        return queryset


@admin.register(InboundShipment)
class InboundShipmentAdmin(admin.ModelAdmin):
    """Confirmed supply, the only source of a date. Every change goes through one
    service, which re-dates the waiting back-orders and tells whoever it affects."""

    form = InboundShipmentForm
    list_display = ["reference", "product", "quantity", "expected_date", "state"]
    list_filter = [InboundStateFilter]  # search finds a product: the list keeps its width
    search_fields = ["reference", "product__sku", "product__name"]
    list_select_related = ["product"]
    ordering = ["expected_date", "pk"]
    actions = ["receive_inbounds", "cancel_inbounds"]

    @admin.display(description="state")
    def state(self, inbound) -> str:
        if inbound.received_at:
            return f"received {inbound.received_at:%Y-%m-%d}"
        if inbound.cancelled_at:
            return f"cancelled {inbound.cancelled_at:%Y-%m-%d}"
        return "open"

    def has_change_permission(self, request, obj=None) -> bool:
        # A received or cancelled inbound is history: read only, no Save buttons.
        return super().has_change_permission(request, obj) and (obj is None or obj.is_open)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cancel it instead: the record stays

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form checks the rules; the service checks them again under the product
        # lock, and a change that won the race in between is told, not a 500.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except StockError as error:
            self.message_user(request, f"Nothing was saved: {error.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            inbound_revise(
                inbound=obj, expected_date=data["expected_date"], quantity=data["quantity"]
            )
        else:
            obj.pk = inbound_announce(
                product=data["product"],
                quantity=data["quantity"],
                expected_date=data["expected_date"],
                reference=data["reference"],
            ).pk

    def _for_each(self, request, queryset, verb, past: str) -> None:
        done = 0
        for inbound in queryset.order_by("product_id", "pk"):
            try:
                verb(inbound=inbound)
            except StockError as error:
                self.message_user(request, error.message, messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} inbound shipment(s) {past}.")

    @admin.action(description="Receive the selected inbounds in full", permissions=["change"])
    def receive_inbounds(self, request, queryset):
        self._for_each(
            request, queryset, inbound_receive, "received; waiting back-orders are being allocated"
        )

    @admin.action(description="Cancel the selected inbounds", permissions=["change"])
    def cancel_inbounds(self, request, queryset):
        self._for_each(request, queryset, inbound_cancel, "cancelled; affected customers are told")


@admin.register(QueuedBackorder)
class QueuedBackorderAdmin(admin.ModelAdmin):
    """Each product's waiting back-orders in queue order; staff may change priority."""

    list_display = [
        "product",
        "position",
        "order_number",
        "customer",
        "backordered",
        "priority",
        "queued_at",
    ]
    list_editable = ["priority"]
    actions = ["cancel_backorders"]
    list_filter = ["product"]
    list_select_related = ["product", "order"]
    # Product id first: priority edits save in this order, and products lock in pk order.
    ordering = ["product_id", "-priority", "queued_at", "pk"]
    fields = ["product", "order", "backordered", "priority", "queued_at"]
    readonly_fields = ["product", "order", "backordered", "queued_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(backordered__gt=0)
            .annotate(position=Window(RowNumber(), partition_by=F("product"), order_by=QUEUE_ORDER))
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="place in queue", ordering="position")
    def position(self, line) -> int:
        return line.position

    @admin.display(description="order")
    def order_number(self, line) -> str:
        return line.order.number

    @admin.display(description="customer")
    def customer(self, line) -> str:
        return line.order.email

    def save_model(self, request, obj, form, change):
        order_line_reprioritize(line_id=obj.pk, priority=obj.priority)

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("backorders.manage_queue")

    @admin.action(description="Cancel the selected back-orders…", permissions=["cancel"])
    def cancel_backorders(self, request, queryset):
        """Asks for the reason the customers will read, then cancels in one transaction."""
        form = StaffCancelForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Cancel back-orders",
                "lines": queryset,
                "form": form,
                "action": "cancel_backorders",
            }
            return TemplateResponse(request, "admin/backorders/cancel_backorders.html", context)
        units, orders = order_lines_cancel_by_staff(
            line_ids=list(queryset.values_list("pk", flat=True)),
            reason=form.cleaned_data["reason"],
        )
        self.message_user(request, f"Cancelled {units} back-ordered unit(s) on {orders} order(s).")
        return None


@admin.register(BackInStockSignup)
class BackInStockSignupAdmin(admin.ModelAdmin):
    list_display = ["created_at", "product", "email", "notified_at"]
    list_filter = [("notified_at", admin.EmptyFieldListFilter)]
    search_fields = ["email", "product__sku"]
    list_select_related = ["product"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
