from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add_view, name="cart_add"),
    path("cart/update/", views.cart_update_view, name="cart_update"),
    path("checkout/", views.checkout_view, name="checkout"),
    path("orders/lookup/", views.order_lookup_view, name="lookup"),
    path("orders/find/", views.orders_by_email_view, name="find"),
    path("orders/<str:token>/", views.order_status_view, name="status"),
    path("orders/<str:token>/status.json", views.order_status_json_view, name="status_json"),
    path("orders/<str:token>/pay/", views.order_pay_view, name="pay"),
    path("payments/stripe/webhook/", views.stripe_webhook_view, name="stripe_webhook"),
    path("payments/stripe/setup/", views.stripe_card_setup_view, name="stripe_card_setup"),
    path(
        "orders/<str:token>/shipping/",
        views.order_shipping_preference_view,
        name="shipping_preference",
    ),
    path(
        "orders/<str:token>/delays/<int:notice_id>/",
        views.order_delay_answer_view,
        name="delay_answer",
    ),
    path(
        "orders/<str:token>/lines/<int:line_id>/cancel/",
        views.order_cancel_backorder_view,
        name="cancel_backorder",
    ),
]
