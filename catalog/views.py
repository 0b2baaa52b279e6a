from django.shortcuts import get_object_or_404, render

from catalog.models import Product
from catalog.selectors import backorder_eta, category_list, product_list, promise_date


def product_list_view(request):
    query = request.GET.get("q", "").strip()[:100]
    category_slug = request.GET.get("category", "")
    return render(
        request,
        "catalog/product_list.html",
        {
            "products": product_list(query=query, category_slug=category_slug),
            "categories": category_list(),
            "query": query,
            "category_slug": category_slug,
        },
    )


def product_detail_view(request, slug: str):
    product = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    eta = backorder_eta(product=product, quantity=1)
    return render(
        request,
        "catalog/product_detail.html",
        {
            "product": product,
            "policy": product.purchase_policy,
            "eta": eta,
            "promised_by": promise_date(eta),
        },
    )
