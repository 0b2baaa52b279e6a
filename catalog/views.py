import re
from urllib.parse import urlencode

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
from core.pages import PageContent, page_cached
from core.versions import CATALOG_VERSION, product_version

# Products per catalog page: a query and a page's rendering that do not grow with the
# catalog.
PRODUCTS_PER_PAGE = 24


# The catalog pages a crowd browses (by category, sort and page) are kept whole; a
# search, the in-stock filter (which every sale changes) and odd queries are not. Only
# real categories, sorts and pages are kept, so nobody can fill the cache with keys.
_KEPT_CATALOG_PARAMETERS = {"category", "sort", "page"}
_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,3}")


def product_list_view(request):
    if set(request.GET) <= _KEPT_CATALOG_PARAMETERS and all(
        len(values) == 1 and len(values[0]) <= 50 for _, values in request.GET.lists()
    ):
        key = "catalog:" + urlencode(sorted(request.GET.items()))
        return page_cached(request, key=key, content=lambda: _catalog_page(request))
    page = _catalog_page(request)
    return render(request, page.template, page.context)


def _catalog_page(request) -> PageContent:
    query = request.GET.get("q", "").strip()[:100]
    category_slug = request.GET.get("category", "")
    sort = request.GET.get("sort", CatalogSort.NAME)
    in_stock_only = request.GET.get("in_stock") == "1"
    products = product_list(
        query=query, category_slug=category_slug, sort=sort, in_stock_only=in_stock_only
    )
    # get_page: a page that is not a number is the first, one past the end the last.
    page_number = request.GET.get("page", "1")
    page = Paginator(products.values_list("pk", flat=True), PRODUCTS_PER_PAGE).get_page(page_number)
    product_ids = list(page)
    cards = product_fragments(
        name="catalog-card", product_ids=product_ids, render=_product_cards_render
    )
    categories = list(category_list())
    return PageContent(
        "catalog/product_list.html",
        {
            "page": page,
            "cards": cards,
            "categories": categories,
            "query": query,
            "category_slug": category_slug,
            "sorts": CatalogSort.choices,
            "sort": sort,
            "in_stock_only": in_stock_only,
        },
        shows=[CATALOG_VERSION, *(product_version(pk) for pk in product_ids)],
        keep=(
            sort in CatalogSort.values
            and (not category_slug or category_slug in {c.slug for c in categories})
            and bool(_PAGE_NUMBER.fullmatch(page_number))
            and page.number == int(page_number)
        ),
    )


def _product_cards_render(product_ids: list[int]) -> dict[int, str]:
    return {
        product.pk: render_to_string("catalog/_product_card.html", {"product": product})
        for product in product_list().filter(pk__in=product_ids)
    }


def product_detail_view(request, slug: str):
    return page_cached(request, key=f"product:{slug}", content=lambda: _product_page(slug))


def _product_page(slug: str) -> PageContent:
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    eta = backorder_eta(product=product, quantity=1)
    policy = product.purchase_policy
    shows = [product.pk]
    alternatives = []
    if policy.availability != Availability.IN_STOCK:
        # Each alternative is suggested while it is in stock: the page shows them all.
        shows += product.alternatives.values_list("pk", flat=True)
        alternatives = in_stock_alternatives(product_ids=[product.pk]).get(product.pk, [])
    return PageContent(
        "catalog/product_detail.html",
        {
            "product": product,
            "policy": policy,
            "alternatives": alternatives,
            "eta": eta,
            "promised_by": promise_date(eta),
        },
        shows=[product_version(pk) for pk in shows],
    )
