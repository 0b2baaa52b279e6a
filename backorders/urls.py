from django.urls import path

from backorders import views

app_name = "backorders"
urlpatterns = [
    path(
        "products/<slug:slug>/notify-me/",
        views.back_in_stock_signup_view,
        name="back_in_stock_signup",
    ),
]
