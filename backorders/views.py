from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from backorders.exceptions import BackorderError
from backorders.forms import BackInStockSignupForm
from backorders.services import back_in_stock_signup
from catalog.models import Product


@require_POST
def back_in_stock_signup_view(request, slug: str):
    product = get_object_or_404(Product, slug=slug)
    form = BackInStockSignupForm(request.POST)
    if form.is_valid():
        try:
            back_in_stock_signup(product=product, **form.cleaned_data)
        except BackorderError as error:
            messages.info(request, error.message)
        else:
            # The same answer whether or not the address had signed up before.
            messages.success(request, f"We will email you once when {product.name} is back.")
        return redirect(product)
    return render(request, "backorders/signup.html", {"product": product, "form": form}, status=400)
