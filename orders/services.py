"""Every write to orders. Lock order everywhere: products (primary-key order, through
catalog.services.products_lock), then order lines (primary-key order)."""

from collections.abc import Collection, Iterable, Mapping

from django.db import transaction

from catalog.services import products_lock, stock_allocate, stock_backorder, stock_ship
from notifications.services import email_queue
from orders.exceptions import (
    BackorderNotAccepted,
    CartEmpty,
    NothingToCancel,
    NothingToShip,
    OrderError,
    OrderNotReady,
    PurchaseRefused,
)
from orders.models import DatabaseNow, Order, OrderLine, ShippingPreference
from orders.selectors import order_email_facts


def order_place(
    *,
    quantities: Mapping[int, int],
    email: str,
    name: str,
    shipping_address: str,
    shipping_preference: str = ShippingPreference.SHIP_READY_NOW,
    backorder_accepted: bool = False,
) -> Order:
    """Place an order for {product id: quantity}, all or nothing.

    Allocates what is available and queues the rest as back-orders where each product's
    policy allows; otherwise raises PurchaseRefused and saves nothing. Back-orders need
    the shopper's acceptance (BackorderNotAccepted), judged on stock at this moment.
    """
    if not quantities:
        raise CartEmpty()
    with transaction.atomic():
        products = products_lock(product_ids=quantities)
        problems = []
        for pid, quantity in sorted(quantities.items()):
            if pid not in products:
                problems.append(f"Product {pid} is no longer sold.")
            else:
                permitted, reason = products[pid].purchase_policy.is_purchase_permitted(quantity)
                if not permitted:
                    problems.append(f"{products[pid].name} {reason}; you asked for {quantity}.")
        if problems:
            raise PurchaseRefused(problems)
        splits = {
            pid: products[pid].purchase_policy.split(quantity)
            for pid, quantity in quantities.items()
        }
        backordered = [products[pid].name for pid, (_, waiting) in splits.items() if waiting]
        if backordered and not backorder_accepted:
            raise BackorderNotAccepted(backordered)

        order = Order.objects.create(
            email=email,
            name=name,
            shipping_address=shipping_address,
            shipping_preference=shipping_preference,
            backorder_accepted=bool(backordered),
        )
        # The database's clock, read under the product locks: queue time follows commit
        # order per product whichever web machine placed the order.
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=products[pid],
                unit_price=products[pid].price,
                quantity=quantity,
                allocated=splits[pid][0],
                backordered=splits[pid][1],
                queued_units=splits[pid][1],
                queued_at=DatabaseNow() if splits[pid][1] else None,
            )
            for pid, quantity in sorted(quantities.items())
        )
        lines = list(order.lines.order_by("pk"))
        for line in lines:
            line.order, line.product = order, products[line.product_id]
            product = line.product
            if line.allocated:
                stock_allocate(product=product, entries=[(line.allocated, line.reference)])
            if line.backordered:
                stock_backorder(product=product, units=line.backordered)
        email_queue(
            key=f"order-placed:{order.pk}",
            to=order.email,
            event="order_placed",
            context=order_email_facts(order=order, lines=lines),
        )
    return order


def _order_lines_lock(order: Order) -> tuple[dict, list[OrderLine]]:
    """Lock the order's products, then its lines, and re-read what may have changed."""
    product_ids = order.lines.values_list("product_id", flat=True)
    products = products_lock(product_ids=product_ids)
    lines = list(order.lines.order_by("pk").select_for_update(of=("self",)))
    order.refresh_from_db(fields=["shipping_preference"])
    for line in lines:
        line.order, line.product = order, products[line.product_id]
    return products, lines


def order_ship(*, order: Order) -> int:
    """Ship every allocated unit of the order; returns the units shipped."""
    with transaction.atomic():
        products, lines = _order_lines_lock(order)
        waiting = any(line.backordered for line in lines)
        if order.shipping_preference == ShippingPreference.SHIP_ALL_TOGETHER and waiting:
            raise OrderNotReady(
                f"Order {order.number} ships all together and still waits for back-ordered units."
            )
        ready = [line for line in lines if line.allocated]
        if not ready:
            raise NothingToShip(f"Order {order.number} has no units ready to ship.")
        shipped = [{"name": line.product.name, "units": line.allocated} for line in ready]
        movements = []
        for line in ready:
            movements += stock_ship(
                product=products[line.product_id], entries=[(line.allocated, line.reference)]
            )
            line.shipped += line.allocated
            line.allocated = 0
        OrderLine.objects.bulk_update(ready, ["allocated", "shipped"])
        email_queue(
            key=f"shipped:{order.pk}:{movements[0].pk}",
            to=order.email,
            event="shipped",
            context={**order_email_facts(order=order, lines=lines), "shipped": shipped},
        )
    return sum(item["units"] for item in shipped)


def orders_ship(*, orders: Iterable[Order]) -> list[tuple[Order, int | OrderError]]:
    """Staff ship several orders in one transaction: (order, units shipped or the
    refusal) for each. Every product of every order is locked first, in pk order, so
    this cannot deadlock with a checkout; an order that cannot ship is refused alone."""
    orders = sorted(orders, key=lambda order: order.pk)
    results: list[tuple[Order, int | OrderError]] = []
    with transaction.atomic():
        products_lock(product_ids=_product_ids_of(order__in=orders))
        for order in orders:
            try:
                results.append((order, order_ship(order=order)))
            except OrderError as error:
                results.append((order, error))
    return results


def order_lines_cancel_by_staff(*, line_ids: Collection[int], reason: str) -> tuple[int, int]:
    """Staff cancel the waiting units of these lines, telling each customer the reason;
    one transaction, all products locked first in pk order. Returns (units, orders)."""
    with transaction.atomic():
        products_lock(product_ids=_product_ids_of(pk__in=line_ids))
        by_order: dict[Order, list[int]] = {}
        lines = OrderLine.objects.filter(pk__in=line_ids, backordered__gt=0)
        for line in lines.select_related("order").order_by("order_id", "pk"):
            by_order.setdefault(line.order, []).append(line.pk)
        units = sum(
            order_cancel_backorders(order=order, line_ids=ids, reason=reason, by_staff=True)
            for order, ids in by_order.items()
        )
    return units, len(by_order)


def _product_ids_of(**lines) -> set[int]:
    return set(OrderLine.objects.filter(**lines).values_list("product_id", flat=True))


def order_shipping_preference_set(*, order: Order, preference: str) -> None:
    """The customer changes when to ship: what is ready now, or all together."""
    with transaction.atomic():
        _, lines = _order_lines_lock(order)
        if all(line.settled for line in lines):
            raise OrderError(f"Order {order.number} has nothing left to ship.")
        order.shipping_preference = ShippingPreference(preference)
        order.save(update_fields=["shipping_preference"])


def order_cancel_backorders(
    *, order: Order, line_ids: Collection[int], reason: str = "", by_staff: bool = False
) -> int:
    """Cancel the units still waiting on these lines of the order, by the customer or
    by staff (with the reason they give the customer); returns units cancelled."""
    with transaction.atomic():
        products, lines = _order_lines_lock(order)
        cancelling = [line for line in lines if line.pk in line_ids and line.backordered]
        if not cancelling or len(cancelling) < len(set(line_ids)):
            raise NothingToCancel("That line has no back-ordered units to cancel.")
        cancelled = [{"name": line.product.name, "units": line.backordered} for line in cancelling]
        for line in cancelling:
            stock_backorder(product=products[line.product_id], units=-line.backordered)
            line.cancelled += line.backordered
            line.backordered = 0
        OrderLine.objects.bulk_update(cancelling, ["cancelled", "backordered"])
        # A line's waiting units are cancelled once, so its ids name the event.
        email_queue(
            key=f"backorder-cancelled:{order.pk}:" + "-".join(str(line.pk) for line in cancelling),
            to=order.email,
            event="backorder_cancelled",
            context={
                **order_email_facts(order=order, lines=lines),
                "cancelled": cancelled,
                "by_staff": by_staff,
                "reason": reason,
            },
        )
    return sum(item["units"] for item in cancelled)
