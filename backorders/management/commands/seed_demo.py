import datetime
import io
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from backorders.roles import CUSTOMER_SERVICE, WAREHOUSE
from backorders.services import back_in_stock_signup, inbound_announce, stock_receive
from catalog.models import Inbound, Product
from catalog.policy import BackorderPolicy
from catalog.services import ProductRow, product_image_set, products_import
from core.commands import StoreCommand
from orders.billing import order_checkout
from orders.models import Order
from orders.selectors import cart_lines
from payments.providers import CardInput

DEMO_ADMIN = ("admin", "admin")
# One staff user per role (backorders.roles), password = username.
DEMO_STAFF = {"warehouse": WAREHOUSE, "service": CUSTOMER_SERVICE}
DEMO_SHOPPER_DOMAIN = "@demo.example.com"
DEMO_CARD = "4242 4242 4242 4242"  # the test provider's card that pays
ALLOW, LIMITED, DENY = BackorderPolicy.ALLOW, BackorderPolicy.ALLOW_LIMITED, BackorderPolicy.DENY
INBOUND = BackorderPolicy.ALLOW_INBOUND

# sku, name, price, category, policy, limit, lead time, stock on hand, (inbound units, in days)
CATALOG = [
    ("BREW-KETTLE", "Gooseneck kettle", "64.00", "Coffee gear", ALLOW, 0, 14, 25, None),
    ("BREW-GRINDER", "Conical burr grinder", "149.00", "Coffee gear", ALLOW, 0, 21, 0, (40, 10)),
    ("BREW-HANDMILL", "Hand burr grinder", "59.00", "Coffee gear", ALLOW, 0, 14, 6, None),
    ("BREW-SCALE", "Drip scale with timer", "39.00", "Coffee gear", ALLOW, 0, 10, 3, (20, 6)),
    ("BREW-DRIPPER", "Ceramic pour-over dripper", "29.00", "Coffee gear", LIMITED, 5, 30, 0, None),
    ("BREW-FILTERS", "Paper filters, 100 pack", "6.50", "Coffee gear", DENY, 0, 7, 200, None),
    ("KIT-KNIFE", "Chef's knife, 21 cm", "89.00", "Kitchen", ALLOW, 0, 28, 8, None),
    ("KIT-BOARD", "End-grain cutting board", "74.00", "Kitchen", ALLOW, 0, 35, 0, (12, 18)),
    ("KIT-PAN", "Carbon steel pan, 28 cm", "55.00", "Kitchen", ALLOW, 0, 21, 0, None),
    ("KIT-TIMER", "Mechanical kitchen timer", "12.00", "Kitchen", DENY, 0, 14, 0, None),
    ("OUT-STOVE", "Compact camping stove", "45.00", "Outdoor", ALLOW, 0, 14, 12, None),
    ("OUT-MUG", "Insulated camp mug", "22.00", "Outdoor", ALLOW, 0, 14, 0, (30, 4)),
    ("OUT-LANTERN", "Rechargeable lantern", "35.00", "Outdoor", LIMITED, 10, 21, 2, None),
    ("OUT-TENT", "Two-person tent", "189.00", "Outdoor", INBOUND, 0, 30, 1, (6, 12)),
]


# What a shopper reads on each demo product's page.
DESCRIPTIONS = {
    "BREW-KETTLE": "A 0.9 litre stainless kettle with a slim gooseneck spout, for a slow, "
    "even pour over coffee grounds. Works on gas, electric and induction hobs.",
    "BREW-GRINDER": "Conical steel burrs with 40 click settings, from espresso-fine to "
    "French-press coarse. Grinds 30 g of beans in under a minute without heating them.",
    "BREW-HANDMILL": "Steel burrs in a hand-cranked aluminium body: 20 g of beans in "
    "about a minute, quietly, anywhere. Travels in a coat pocket.",
    "BREW-SCALE": "Weighs to 0.1 g up to 2 kg, with a built-in timer for timing the bloom "
    "and the pour. Charges over USB-C and runs for a month between charges.",
    "BREW-DRIPPER": "A glazed ceramic cone for one to two cups, with spiral ribs that let "
    "the coffee breathe. Takes size 02 paper filters.",
    "BREW-FILTERS": "One hundred unbleached paper filters, size 02, rinsed clean of any "
    "paper taste. Fits most cone drippers.",
    "KIT-KNIFE": "A 21 cm chef's knife forged from one piece of carbon-rich stainless "
    "steel, balanced at the bolster, with a riveted walnut handle.",
    "KIT-BOARD": "End-grain maple blocks glued into a 40 × 30 cm board that is kind to "
    "knife edges and heals its own cuts. Oiled by hand.",
    "KIT-PAN": "A 28 cm carbon steel pan that heats fast and turns non-stick with use. "
    "Pre-seasoned, ready for the hob, the oven and the campfire.",
    "KIT-TIMER": "A wind-up 60 minute timer with a clear ring at the end. No batteries, no apps.",
    "OUT-STOVE": "A 90 g canister stove that boils a litre of water in four minutes and "
    "folds into its own mug-sized case.",
    "OUT-MUG": "A double-walled steel mug that keeps tea hot for two hours, with a "
    "sliding lid that does not leak in a pack.",
    "OUT-LANTERN": "A rechargeable lantern with three brightness levels and a warm "
    "light, up to 40 hours on its lowest setting. Hangs or stands.",
    "OUT-TENT": "A two-person tent of 1.6 kg with two doors and two porches, pitched "
    "in five minutes. Waterproof to 3,000 mm.",
}

# A colour per demo category: the drawn pictures tell the aisles apart.
CATEGORY_COLOURS = {"Coffee gear": "#8a5a3b", "Kitchen": "#3b6e8a", "Outdoor": "#4f7a3b"}


def demo_picture(product: Product) -> ContentFile:
    """A simple picture of the product drawn with Pillow (no downloads): its initials
    on its category's colour, with its name below."""
    image = Image.new("RGB", (960, 720), CATEGORY_COLOURS.get(product.category.name, "#555555"))
    draw = ImageDraw.Draw(image)
    initials = "".join(word[0] for word in product.name.split()[:2]).upper()
    draw.text((480, 330), initials, fill="#ffffff", anchor="mm", font=ImageFont.load_default(260))
    draw.text(
        (480, 600), product.name, fill="#ffffff", anchor="mm", font=ImageFont.load_default(48)
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return ContentFile(buffer.getvalue(), name=f"{product.slug}.png")


class Command(StoreCommand):
    help = (
        "Load the demo catalog (idempotent: run it again and nothing doubles) and, in DEBUG "
        "only, a queue of demo orders and an admin account."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Loading {len(CATALOG)} demo products…")
        today = timezone.localdate()
        with transaction.atomic():
            products_import(
                rows=[
                    ProductRow(
                        sku=sku,
                        name=name,
                        price=Decimal(price),
                        category=category,
                        backorder_policy=policy,
                        backorder_limit=limit,
                        lead_time_days=lead,
                        description=DESCRIPTIONS[sku],
                        # The source article's incentive: 10% off what is back-ordered.
                        backorder_discount_percent=10 if sku == "BREW-GRINDER" else 0,
                    )
                    for sku, name, price, category, policy, limit, lead, _, _ in CATALOG
                ]
            )
            products = Product.objects.in_bulk([row[0] for row in CATALOG], field_name="sku")
            for sku, *_, on_hand, inbound in CATALOG:
                product = products[sku]
                if on_hand and not product.movements.exists():
                    stock_receive(product=product, quantity=on_hand, reference="demo opening stock")
                reference = f"DEMO-PO-{sku}"
                if inbound and not Inbound.objects.filter(reference=reference).exists():
                    units, days = inbound
                    inbound_announce(
                        product=product,
                        quantity=units,
                        expected_date=today + datetime.timedelta(days=days),
                        reference=reference,
                    )
        # The source article's other lever: while the grinder waits, the hand grinder is
        # in stock now.
        products["BREW-GRINDER"].alternatives.add(products["BREW-HANDMILL"])
        pictureless = [products[row[0]] for row in CATALOG if not products[row[0]].image]
        if pictureless:
            self.stdout.write(f"Drawing {len(pictureless)} demo product pictures…")
        for product in pictureless:
            product.image_alt = f"{product.name}, drawn as a demo picture"
            product.save(update_fields=["image_alt"])
            product_image_set(product=product, image=demo_picture(product))
        demo_shoppers = Order.objects.filter(email__endswith=DEMO_SHOPPER_DOMAIN)
        if settings.DEBUG and not demo_shoppers.exists():
            # A queue to join: shoppers who back-ordered the grinder before you, paying
            # with the test provider's card (the first for a kettle in stock too). Each
            # checkout charges outside any transaction, as the checkout page does.
            for number in range(1, 4):
                quantities = {products["BREW-GRINDER"].pk: number}
                if number == 1:
                    quantities[products["BREW-KETTLE"].pk] = 1
                order_checkout(
                    quantities=quantities,
                    card=CardInput(number=DEMO_CARD),
                    charge_now=sum(line.charge_now for line in cart_lines(quantities=quantities)),
                    email=f"shopper{number}{DEMO_SHOPPER_DOMAIN}",
                    name=f"Demo shopper {number}",
                    shipping_address=f"{number} Queue Street\nFifo Town",
                    backorder_accepted=True,
                )
            back_in_stock_signup(
                product=products["KIT-TIMER"], email=f"waiting{DEMO_SHOPPER_DOMAIN}"
            )
        self.stdout.write(self.style.SUCCESS("Demo catalog ready."))
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no demo orders or admin account created.")
            return
        username, password = DEMO_ADMIN
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, "admin@example.com", password)
        self.stdout.write(
            f"Admin: http://127.0.0.1:8000/admin/  user {username!r} password {password!r}"
        )
        for username, role in DEMO_STAFF.items():
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(username, password=username, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
            self.stdout.write(f"       {role}: user {username!r} password {username!r}")
