from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from backorders.exceptions import BackorderError
from backorders.forms import BackInStockSignupForm
from backorders.services import back_in_stock_signup
from catalog.models import Product
from core.limits import rate_limited


@require_POST
def back_in_stock_signup_view(request, slug: str):
    product = get_object_or_404(Product, slug=slug)
    form = BackInStockSignupForm(request.POST)
    limit = settings.BACK_IN_STOCK_SIGNUP_RATE_LIMIT
    if rate_limited(request, group="back-in-stock-signup", per_ten_minutes=limit):
        form.add_error(None, "Too many sign-ups from here. Please wait a few minutes.")
        status = 429
    elif form.is_valid():
        try:
            back_in_stock_signup(product=product, **form.cleaned_data)
        except BackorderError as error:
            messages.info(request, error.message)
        else:
            # The same answer whether or not the address had signed up before.
            messages.success(request, f"We will email you once when {product.name} is back.")
        return redirect(product)
    else:
        status = 400
    context = {"product": product, "form": form}
    return render(request, "backorders/signup.html", context, status=status)
