from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backorders.forms import (
    RECEIPT_COLUMNS,
    InboundReceiveForm,
    InboundShipmentForm,
    ReceiptsUploadForm,
    ReceiveStockForm,
    StaffCancelForm,
    StaffReasonForm,
)
from backorders.models import BackInStockSignup, InboundShipment, ProductStock, QueuedBackorder
from backorders.selectors import (
    AGE_BUCKETS,
    age_bucket_filter,
    age_bucket_label,
    inbound_reach,
    products_needing_allocation,
    receipt_reach,
)
from backorders.services import (
    backorders_allocate,
    inbound_announce,
    inbound_cancel,
    inbound_receive,
    inbound_revise,
    receipts_apply,
    stock_receive,
)
from catalog.exceptions import StockError
from core.admin import ReadOnlyAdmin
from orders.admin import OrderNumberSearch
from orders.models import QUEUE_ORDER
from orders.selectors import queue_position
from orders.services import order_lines_cancel_by_staff, order_lines_move_to_front


def receiving_allowed(request) -> None:
    if not request.user.has_perm("backorders.receive_stock"):
        raise PermissionDenied


def receiving_page(model_admin, request, *, title, product, form, preview, receive):
    """Receiving in two steps, for a product or an inbound: the form, then what the
    units will do for the queue (preview(data), a QueueReach) with a button that
    does it (receive(data), which returns the message to show)."""
    opts = model_admin.model._meta
    reach = None
    if request.method == "POST" and form.is_valid():
        if "confirm" not in request.POST:
            reach = preview(form.cleaned_data)
        else:
            try:
                message = receive(form.cleaned_data)
            except StockError as error:
                error.add_to(form)
            else:
                messages.success(request, message)
                return redirect(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": title,
        "product": product,
        "form": form,
        "reach": reach,
    }
    return TemplateResponse(request, "admin/backorders/receive_stock.html", context)


@admin.register(ProductStock)
class ProductStockAdmin(ReadOnlyAdmin):
    list_display = [
        "sku",
        "name",
        "actions_column",  # before the numbers: in view beside the sidebar at 1280 px
        "on_hand",
        "allocated",
        "available",
        "waiting",
    ]
    list_filter = ["backorder_policy", "category"]  # the policy: a filter, not a column
    search_fields = ["sku", "name"]
    ordering = ["-backordered", "sku"]

    @admin.display(description="available")
    def available(self, product) -> int:
        return product.available

    @admin.display(description="waiting", ordering="backordered")
    def waiting(self, product) -> int:
        return product.backordered

    @admin.display(description="")
    def actions_column(self, product):
        queue = reverse("admin:backorders_queuedbackorder_changelist")
        return format_html(
            '<a href="{}">Receive</a> · <a href="{}?product__id__exact={}">Queue</a>',
            reverse("admin:backorders_productstock_receive", args=[product.pk]),
            queue,
            product.pk,
        )

    def get_urls(self):
        return [
            path(
                "<int:product_id>/receive/",
                self.admin_site.admin_view(self.receive_view),
                name="backorders_productstock_receive",
            ),
            path(
                "receipts/",
                self.admin_site.admin_view(self.receipts_view),
                name="backorders_productstock_receipts",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        # Receipts are allocated by the workers: how far they have got, on every visit.
        extra_context = {
            "title": "Product stock and receiving",
            **(extra_context or {}),
            "allocating": len(products_needing_allocation()),
        }
        return super().changelist_view(request, extra_context)

    def receive_view(self, request, product_id: int):
        receiving_allowed(request)
        product = get_object_or_404(ProductStock, pk=product_id)

        def preview(data):
            if data["expected_date"]:
                return inbound_reach(
                    product=product, quantity=data["quantity"], expected_date=data["expected_date"]
                )
            return receipt_reach(product=product, quantity=data["quantity"])

        def receive(data):
            if data["expected_date"]:
                inbound_announce(product=product, **data)
                return (
                    f"Inbound of {data['quantity']} × {product.sku} expected "
                    f"{data['expected_date']:%Y-%m-%d} recorded; the back-orders it covers "
                    "are dated."
                )
            stock_receive(product=product, quantity=data["quantity"], reference=data["reference"])
            return (
                f"Received {data['quantity']} × {product.sku}; waiting back-orders are being "
                "allocated."
            )

        return receiving_page(
            self,
            request,
            title=f"Receive stock: {product}",
            product=product,
            form=ReceiveStockForm(request.POST or None),
            preview=preview,
            receive=receive,
        )

    def receipts_view(self, request):
        """A delivery's CSV: checked whole, then applied in one transaction."""
        receiving_allowed(request)
        form = ReceiptsUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            receipts = form.cleaned_data["file"]
            try:
                receipts_apply(receipts=receipts)
            except StockError as error:
                form.add_error("file", f"Nothing was received: {error.message}")
            else:
                products = len({receipt.product_id for receipt in receipts})
                units = sum(receipt.quantity for receipt in receipts)
                messages.success(
                    request,
                    f"Received {units:,} units in {len(receipts):,} receipts for {products:,} "
                    "products, all in one transaction. The workers are allocating them to "
                    "the waiting back-orders now; this list says how many products are left.",
                )
                return redirect("admin:backorders_productstock_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": ProductStock._meta,
            "title": "Receive a delivery from a CSV file",
            "form": form,
            "columns": RECEIPT_COLUMNS,
        }
        return TemplateResponse(request, "admin/backorders/receipts_upload.html", context)


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
    list_display = ["reference", "product", "quantity", "expected_date", "state", "receive_link"]
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

    @admin.display(description="")
    def receive_link(self, inbound):
        if not inbound.is_open:
            return ""
        url = reverse("admin:backorders_inboundshipment_receive", args=[inbound.pk])
        return format_html('<a href="{}">Receive</a>', url)

    def get_urls(self):
        receive = path(
            "<int:inbound_id>/receive/",
            self.admin_site.admin_view(self.receive_view),
            name="backorders_inboundshipment_receive",
        )
        return [receive, *super().get_urls()]

    def receive_view(self, request, inbound_id: int):
        receiving_allowed(request)
        inbound = get_object_or_404(InboundShipment.objects.open().select_related("product"),
                                    pk=inbound_id)  # fmt: skip
        form = InboundReceiveForm(request.POST or None, initial={"quantity": inbound.quantity})

        def receive(data):
            inbound_receive(inbound=inbound, quantity=data["quantity"])
            return (
                f"Received {data['quantity']} × {inbound.product.sku} of inbound "
                f"{inbound.reference or inbound.pk}; waiting back-orders are being allocated."
            )

        return receiving_page(
            self,
            request,
            title=f"Receive inbound {inbound.reference or inbound.pk}: {inbound.product}",
            product=inbound.product,
            form=form,
            preview=lambda data: receipt_reach(product=inbound.product, quantity=data["quantity"]),
            receive=receive,
        )

    def has_receive_permission(self, request) -> bool:
        return request.user.has_perm("backorders.receive_stock")

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

    @admin.action(description="Receive the selected inbounds in full", permissions=["receive"])
    def receive_inbounds(self, request, queryset):
        self._for_each(
            request, queryset, inbound_receive, "received; waiting back-orders are being allocated"
        )

    @admin.action(description="Cancel the selected inbounds", permissions=["change"])
    def cancel_inbounds(self, request, queryset):
        self._for_each(request, queryset, inbound_cancel, "cancelled; affected customers are told")


class WaitingProductFilter(admin.SimpleListFilter):
    """Only products that have a queue, so the list stays short as the catalog grows."""

    title = "product"
    parameter_name = "product__id__exact"  # the product stock list links with it

    def lookups(self, request, model_admin):
        waiting = ProductStock.objects.filter(backordered__gt=0).order_by("name", "pk")
        return [(product.pk, f"{product.name} ({product.backordered})") for product in waiting]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(product_id=self.value())
        return queryset


class AgeFilter(admin.SimpleListFilter):
    """How long the back-order has waited, in the dashboard's buckets."""

    title = "waiting for"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [(key, age_bucket_label(key)) for key in AGE_BUCKETS]

    def queryset(self, request, queryset):
        if self.value() in AGE_BUCKETS:
            return queryset.filter(age_bucket_filter(self.value()))
        return queryset


class HasEtaFilter(admin.SimpleListFilter):
    title = "date"
    parameter_name = "eta"

    def lookups(self, request, model_admin):
        return [("yes", "Has an ETA"), ("no", "No date confirmed")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(eta__isnull=self.value() == "no")
        return queryset


@admin.register(QueuedBackorder)
class QueuedBackorderAdmin(OrderNumberSearch, admin.ModelAdmin):
    """Each product's waiting back-orders in queue order. Staff move some to the front,
    cancel some, or allocate available stock now; each with a reason, logged on the
    order's timeline (the admin's action log) with who did it."""

    # Seven short columns, so that all fit beside the sidebar and the filters at 1280 px.
    list_display = [
        "product_sku",
        "position",
        "order_link",
        "customer",
        "waiting",
        "age",
        "eta_shown",
    ]
    list_display_links = None  # nothing to edit: the order link opens the order
    actions = ["move_to_front", "cancel_backorders", "allocate_now"]
    list_filter = [WaitingProductFilter, AgeFilter, HasEtaFilter]
    search_fields = ["order__email"]
    order_id_field = "order_id"
    list_select_related = ["product", "order"]
    ordering = ["product_id", *QUEUE_ORDER]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(backordered__gt=0)
            .annotate(position=queue_position())
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # rows change only through the actions below

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_manage_permission(self, request) -> bool:
        return request.user.has_perm("backorders.manage_queue")

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": "Back-order queue", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @admin.display(description="product", ordering="product__sku")
    def product_sku(self, line) -> str:
        return line.product.sku

    @admin.display(description="place", ordering="position")
    def position(self, line) -> int:
        return line.position

    @admin.display(description="waiting", ordering="backordered")
    def waiting(self, line) -> int:
        return line.backordered

    @admin.display(description="order", ordering="order_id")
    def order_link(self, line):
        url = reverse("admin:orders_order_change", args=[line.order_id])
        return format_html('<a href="{}">{}</a>', url, line.order.number)

    @admin.display(description="customer")
    def customer(self, line) -> str:
        return line.order.email

    @admin.display(description="waited", ordering="queued_at")
    def age(self, line) -> str:
        days = (timezone.localdate() - timezone.localdate(line.queued_at)).days
        return f"{days} day{'s' if days != 1 else ''}"

    @admin.display(description="ETA", ordering="eta")
    def eta_shown(self, line) -> str:
        return f"{line.eta:%Y-%m-%d}" if line.eta else "none"

    # Each action's page asking for its reason: (form, title, what will happen, button).
    REASON_PAGES = {
        "move_to_front": (
            StaffReasonForm,
            "Move back-orders to the front of the queue",
            "These back-orders will be served before every other waiting one of their "
            "product, in this order:",
            "Move to the front",
        ),
        "cancel_backorders": (
            StaffCancelForm,
            "Cancel back-orders",
            "These back-ordered units will be cancelled and each customer emailed with "
            "your reason:",
            "Cancel these back-orders",
        ),
        "allocate_now": (
            StaffReasonForm,
            "Allocate available stock now",
            "The available stock of these back-orders' products will go to each "
            "product's queue now, head first (not only to the selected lines):",
            "Allocate now",
        ),
    }

    def _reason_asked(self, request, queryset, action: str):
        """(the page asking for the action's reason, "") until one is given, then
        (None, the reason)."""
        form_class, title, intro, submit = self.REASON_PAGES[action]
        form = form_class(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            return None, form.cleaned_data["reason"]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "intro": intro,
            "submit": submit,
            "lines": queryset.order_by("product_id", *QUEUE_ORDER),
            "form": form,
            "action": action,
        }
        page = TemplateResponse(request, "admin/backorders/queue_action.html", context)
        return page, ""

    @admin.action(description="Move the selected back-orders to the front…", permissions=["manage"])
    def move_to_front(self, request, queryset):
        page, reason = self._reason_asked(request, queryset, "move_to_front")
        if page:
            return page
        with transaction.atomic():  # the move and its record, or neither
            moved = order_lines_move_to_front(line_ids=list(queryset.values_list("pk", flat=True)))
            for line in moved:
                self.log_change(
                    request,
                    line.order,
                    f"Moved {line.backordered} × {line.product.name} to the front of its "
                    f"queue. Reason: {reason}",
                )
        self.message_user(request, f"Moved {len(moved)} back-order(s) to the front.")
        return None

    @admin.action(description="Cancel the selected back-orders…", permissions=["manage"])
    def cancel_backorders(self, request, queryset):
        """Asks for the reason the customers will read, then cancels in one transaction."""
        page, reason = self._reason_asked(request, queryset, "cancel_backorders")
        if page:
            return page
        with transaction.atomic():
            cancelled = order_lines_cancel_by_staff(
                line_ids=list(queryset.values_list("pk", flat=True)), reason=reason
            )
            for order, units in cancelled.items():
                self.log_change(
                    request, order, f"Cancelled {units} waiting unit(s). Reason: {reason}"
                )
        self.message_user(
            request,
            f"Cancelled {sum(cancelled.values())} back-ordered unit(s) on {len(cancelled)} "
            "order(s).",
        )
        return None

    @admin.action(
        description="Allocate available stock now to the selected lines' products…",
        permissions=["manage"],
    )
    def allocate_now(self, request, queryset):
        """Runs the fill the workers would run, at once, head of each queue first."""
        page, reason = self._reason_asked(request, queryset, "allocate_now")
        if page:
            return page
        products = ProductStock.objects.filter(pk__in=queryset.values("product_id")).order_by("pk")
        for product in products:
            units = backorders_allocate(product_id=product.pk)
            self.log_change(
                request, product, f"Allocated {units} unit(s) to the queue now. Reason: {reason}"
            )
            self.message_user(request, f"{product.sku}: allocated {units} unit(s) to its queue.")
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
