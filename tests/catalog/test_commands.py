from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Category, Product

HEADER = "sku,name,price,category,backorder_policy,backorder_limit,lead_time_days,description"
MUG = "MUG,Camp mug,12.50,Outdoor,allow,,,Enamel mug"
LAMP = "LAMP,Desk lamp,40.00,Home,allow_limited,5,30,"
PAN = "PAN,Frying pan,30.00,Kitchen,deny,,7,Steel pan"

pytestmark = pytest.mark.django_db


@pytest.fixture
def csv_file(tmp_path):
    """Write the given lines as a UTF-8 CSV file and return its path."""

    def write(*lines: str) -> str:
        path = tmp_path / "products.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    return write


def run_import(path: str) -> str:
    out = StringIO()
    call_command("import_products", path, stdout=out)
    return out.getvalue()


def import_fails(path: str) -> str:
    """Run an import that must be refused and change nothing; return the error message."""
    products_before = list(Product.objects.values_list("sku", "name", "price"))
    categories_before = Category.objects.count()
    with pytest.raises(CommandError) as excinfo:
        run_import(path)
    assert list(Product.objects.values_list("sku", "name", "price")) == products_before
    assert Category.objects.count() == categories_before
    return str(excinfo.value)


def test_import_creates_products_and_categories(csv_file):
    output = run_import(csv_file(HEADER, MUG, LAMP))

    assert "2 created, 0 updated" in output
    mug, lamp = Product.objects.get(sku="MUG"), Product.objects.get(sku="LAMP")
    assert (mug.name, mug.price, mug.category.name) == ("Camp mug", Decimal("12.50"), "Outdoor")
    assert (mug.backorder_policy, mug.backorder_limit, mug.lead_time_days) == ("allow", 0, 14)
    assert mug.description == "Enamel mug"
    assert (lamp.backorder_policy, lamp.backorder_limit, lamp.lead_time_days) == (
        "allow_limited",
        5,
        30,
    )
    assert set(Category.objects.values_list("name", flat=True)) == {"Outdoor", "Home"}
    assert mug.on_hand == lamp.on_hand == 0


def test_second_import_updates_by_sku(csv_file):
    run_import(csv_file(HEADER, MUG, LAMP))
    mug_pk = Product.objects.get(sku="MUG").pk

    output = run_import(csv_file(HEADER, MUG.replace("12.50", "14.00"), PAN))

    assert "1 created, 1 updated" in output
    assert Product.objects.count() == 3
    mug = Product.objects.get(sku="MUG")
    assert (mug.pk, mug.price) == (mug_pk, Decimal("14.00"))
    assert Category.objects.filter(name="Outdoor").count() == 1


def test_import_rolls_back_on_unknown_policy(csv_file):
    run_import(csv_file(HEADER, MUG))
    path = csv_file(HEADER, MUG.replace("12.50", "99.00"), LAMP.replace("allow_limited", "maybe"))

    message = import_fails(path)

    assert "row 3" in message
    assert "LAMP" in message
    assert "unknown backorder_policy 'maybe'" in message


@pytest.mark.parametrize("price", ["abc", "-1", "1.234", ""])
def test_import_rejects_bad_price(csv_file, price):
    message = import_fails(csv_file(HEADER, MUG, PAN.replace("30.00", price)))

    assert "row 3" in message
    assert f"bad price {price!r}" in message


def test_import_rejects_missing_sku(csv_file):
    message = import_fails(csv_file(HEADER, MUG, LAMP.removeprefix("LAMP")))

    assert "row 3: missing SKU" in message


def test_import_reports_every_bad_row(csv_file):
    message = import_fails(csv_file(HEADER, MUG.replace("allow", "never"), LAMP, ",x,1,Home,deny"))

    assert "row 2" in message
    assert "row 4" in message
    assert "row 3" not in message


def test_import_rejects_missing_column(csv_file):
    header = HEADER.replace(",lead_time_days", "")
    message = import_fails(csv_file(header, "MUG,Camp mug,12.50,Outdoor,allow,,Enamel mug"))

    assert "missing column(s): lead_time_days" in message


def test_import_rejects_duplicate_sku_naming_its_rows(csv_file):
    message = import_fails(csv_file(HEADER, MUG, LAMP, MUG.replace("Camp mug", "Other mug")))

    assert "rows 2, 4: SKU MUG appears more than once" in message
    assert "LAMP" not in message


def test_import_rejects_missing_file(tmp_path):
    message = import_fails(str(tmp_path / "absent.csv"))

    assert "cannot read" in message
    assert "absent.csv" in message


def test_import_rejects_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\nMUG,Caf\xe9 mug,12.50,Outdoor,allow,,,\n".encode("latin-1"))

    message = import_fails(str(path))

    assert "is not UTF-8 text" in message


def test_import_rejects_file_without_rows(csv_file):
    message = import_fails(csv_file(HEADER))

    assert "no product rows" in message


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["A B,Lamp,1.00,Gear,allow,,,", "A-B,Lamp,1.00,Gear,allow,,,"], "would share"),
        (["***,Lamp,1.00,Gear,allow,,,"], "needs at least one letter or digit"),
        (["LAMP,Lamp,1.00,!!!,allow,,,"], "category needs at least one letter or digit"),
        (["LAMP," + "x" * 201 + ",1.00,Gear,allow,,,"], "name is longer than 200"),
        (["LAMP,Lamp,1.00,Gear,allow,²,,"], "backorder_limit must be a whole number"),
    ],
)
def test_import_rejects_rows_that_would_break_addresses_or_columns(csv_file, rows, expected):
    message = import_fails(csv_file(HEADER, *rows))
    assert expected in message
    assert not Product.objects.exists()


def test_import_rejects_a_sku_clashing_with_an_existing_products_address(csv_file):
    call_command("import_products", csv_file(HEADER, "ab,Lamp,1.00,Gear,allow,,,"))
    message = import_fails(csv_file(HEADER, "AB,Other lamp,1.00,Gear,allow,,,"))
    assert "SKUs AB, ab would share" in message
    assert Product.objects.get().name == "Lamp"


def test_categories_differing_only_in_case_are_one(csv_file):
    call_command(
        "import_products",
        csv_file(HEADER, "A1,Lamp,1.00,Coffee Gear,allow,,,", "A2,Mug,1.00,coffee gear,allow,,,"),
    )
    assert Category.objects.count() == 1
