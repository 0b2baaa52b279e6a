from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string

from catalog.cache import product_fragments
from catalog.models import Product
from catalog.policy import Availability
from catalog.selectors import (
    CatalogSort,
    backorder_eta,
    category_list,
    in_stock_alternatives,
    product_list,
    promise_date,
)

# Products per catalog page: a query and a page's rendering that do not grow with the
# catalog.
PRODUCTS_PER_PAGE = 24


def product_list_view(request):
    query = request.GET.get("q", "").strip()[:100]
    category_slug = request.GET.get("category", "")
    sort = request.GET.get("sort", CatalogSort.NAME)
    in_stock_only = request.GET.get("in_stock") == "1"
    products = product_list(
        query=query, category_slug=category_slug, sort=sort, in_stock_only=in_stock_only
    )
    # get_page: a page that is not a number is the first, one past the end the last.
    page = Paginator(products.values_list("pk", flat=True), PRODUCTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    cards = product_fragments(
        name="catalog-card", product_ids=list(page), render=_product_cards_render
    )
    return render(
        request,
        "catalog/product_list.html",
        {
            "page": page,
            "cards": cards,
            "categories": category_list(),
            "query": query,
            "category_slug": category_slug,
            "sorts": CatalogSort.choices,
            "sort": sort,
            "in_stock_only": in_stock_only,
        },
    )


def _product_cards_render(product_ids: list[int]) -> dict[int, str]:
    return {
        product.pk: render_to_string("catalog/_product_card.html", {"product": product})
        for product in product_list().filter(pk__in=product_ids)
    }


def product_detail_view(request, slug: str):
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    eta = backorder_eta(product=product, quantity=1)
    policy = product.purchase_policy
    waiting_or_sold_out = policy.availability != Availability.IN_STOCK
    alternatives = in_stock_alternatives(product_ids=[product.pk]) if waiting_or_sold_out else {}
    return render(
        request,
        "catalog/product_detail.html",
        {
            "product": product,
            "policy": policy,
            "alternatives": alternatives.get(product.pk, []),
            "eta": eta,
            "promised_by": promise_date(eta),
        },
    )
