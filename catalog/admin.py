from django import forms
from django.contrib import admin

from catalog.exceptions import StockError
from catalog.models import Category, Inbound, Product, StockMovement
from catalog.services import inbound_check
from core.admin import ReadOnlyAdmin

# Receiving stock and the back-order queue are staff actions of the backorders app
# (backorders/admin.py), which builds on this one.


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


INBOUND_FIELDS = ["quantity", "expected_date", "reference"]


class InboundForm(forms.ModelForm):
    class Meta:
        model = Inbound
        fields = INBOUND_FIELDS

    def clean(self):
        cleaned = super().clean()
        if self.has_changed() and not self.errors:
            try:  # the service's rule, the same one the command meets
                inbound_check(**{name: cleaned[name] for name in INBOUND_FIELDS})
            except StockError as error:
                error.add_to(self)
        return cleaned


class InboundInline(admin.TabularInline):
    model = Inbound
    form = InboundForm
    extra = 0
    fields = ["quantity", "expected_date", "reference", "received_at"]
    readonly_fields = ["received_at"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "name",
        "category",
        "price",
        "backorder_policy",
        "on_hand",
        "allocated",
        "available",
        "backordered",
    ]
    list_filter = ["category", "backorder_policy"]
    search_fields = ["sku", "name"]
    prepopulated_fields = {"slug": ["sku"]}
    readonly_fields = ["on_hand", "allocated", "available", "backordered"]
    fieldsets = [
        (None, {"fields": ["sku", "slug", "name", "category", "price", "description"]}),
        ("Back-orders", {"fields": ["backorder_policy", "backorder_limit", "lead_time_days"]}),
        ("Stock (change it by receiving stock)", {"fields": readonly_fields}),
    ]
    inlines = [InboundInline]

    @admin.display(description="available")
    def available(self, product: Product) -> int:
        return product.available

    def save_model(self, request, obj, form, change):
        # Only the fields on the form: the stock counters belong to the stock services,
        # and writing back the values read at the start of the request would undo a
        # checkout that committed meanwhile.
        if change:
            obj.save(update_fields=[name for name in form.fields if name in form.changed_data])
        else:
            obj.save()


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    """The ledger is append-only: staff read it, services write it."""

    list_display = [
        "created_at",
        "product",
        "kind",
        "on_hand_delta",
        "allocated_delta",
        "reference",
    ]
    list_filter = ["kind"]
    search_fields = ["product__sku", "reference"]
    list_select_related = ["product"]
