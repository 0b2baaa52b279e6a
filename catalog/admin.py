from django.contrib import admin

from catalog.cache import catalog_bump_on_commit, product_versions_bump_on_commit
from catalog.models import Category, Product, StockMovement
from catalog.services import product_image_set
from core.admin import ReadOnlyAdmin

# Receiving stock, inbound shipments and the back-order queue are staff actions of the
# backorders app (backorders/admin.py), which builds on this one: each change to supply
# re-dates the waiting back-orders.


def _shown_anew(product_ids) -> None:
    """A staff change to products or their category: their cards and pages, and the
    catalog's lists, are made again once it commits."""
    product_versions_bump_on_commit(product_ids=product_ids)
    catalog_bump_on_commit()


class ShownAnewOnDelete:
    """Deleting rows from the admin (one, or the "delete selected" action) shows the
    catalog without them."""

    def delete_model(self, request, obj):
        product_ids = self.shown_products(type(obj).objects.filter(pk=obj.pk))
        super().delete_model(request, obj)
        _shown_anew(product_ids)

    def delete_queryset(self, request, queryset):
        product_ids = self.shown_products(queryset)
        super().delete_queryset(request, queryset)
        _shown_anew(product_ids)


@admin.register(Category)
class CategoryAdmin(ShownAnewOnDelete, admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Each product's card names its category.
        _shown_anew(self.shown_products(Category.objects.filter(pk=obj.pk)))

    @staticmethod
    def shown_products(categories) -> list[int]:
        """The products of these categories, in one query."""
        return list(Product.objects.filter(category__in=categories).values_list("pk", flat=True))


@admin.register(Product)
class ProductAdmin(ShownAnewOnDelete, admin.ModelAdmin):
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
    autocomplete_fields = ["alternatives"]

    class Media:
        js = ["admin/autocomplete_labels.js"]

    readonly_fields = ["on_hand", "allocated", "available", "backordered"]
    fieldsets = [
        (None, {"fields": ["sku", "slug", "name", "category", "price", "description"]}),
        ("Picture", {"fields": ["image", "image_alt"]}),
        ("Alternatives", {"fields": ["alternatives"]}),
        (
            "Back-orders",
            {
                "fields": [
                    "backorder_policy",
                    "backorder_limit",
                    "lead_time_days",
                    "backorder_discount_percent",
                ]
            },
        ),
        ("Stock (change it by receiving stock)", {"fields": readonly_fields}),
    ]

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
        if "image" in form.changed_data:  # a new picture, or one cleared: its thumbnail
            product_image_set(product=obj)
        _shown_anew([obj.pk])  # its name, price, policy, place in the catalog…

    @staticmethod
    def shown_products(products) -> list[int]:
        return list(products.values_list("pk", flat=True))


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
