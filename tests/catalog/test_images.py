"""Product pictures (issue 11): thumbnails made once by easy-thumbnails and sized on the
row, drawn for the demo, imported from a CSV column, uploaded in the admin, and a
placeholder for a product without one."""

import io
import re
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image

from catalog.exceptions import CatalogError
from catalog.models import Product
from catalog.services import product_image_set
from tests.factories import product_create

pytestmark = pytest.mark.django_db

HEADER = "sku,name,price,category,backorder_policy,backorder_limit,lead_time_days,description"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def png(width=800, height=600, colour="#336699") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_demo_draws_every_product_a_picture_and_the_catalog_sizes_it(client, media):
    call_command("seed_demo", stdout=StringIO())
    products = Product.objects.all()
    assert products and all(p.thumbnail for p in products)
    assert {(p.thumbnail_width, p.thumbnail_height) for p in products} == {(480, 360)}
    page = client.get("/").content.decode()
    images = re.findall(
        r'<img class="product-image" src="([^"]+)" width="480" height="360" '
        r'alt="([^"]+)" loading="lazy">',
        page,
    )
    assert len(images) == len(products)
    assert (media / images[0][0].removeprefix("/media/")).is_file()
    assert "Gooseneck kettle, drawn as a demo picture" in {alt for _, alt in images}
    call_command("seed_demo", stdout=StringIO())  # again: no picture drawn twice
    assert [p.image.name for p in Product.objects.all()] == [p.image.name for p in products]


def test_a_product_without_a_picture_gets_a_placeholder(client):
    mug = product_create(sku="MUG", name="camp mug")
    page = client.get(mug.get_absolute_url()).content.decode()
    assert '<div class="product-image product-image-placeholder" aria-hidden="true">' in page
    assert "<span>C</span>" in page and "<img" not in page.split("<main")[1]


def test_a_file_that_is_not_a_picture_is_refused():
    mug = product_create(sku="MUG")
    with pytest.raises(CatalogError, match="not a picture"):
        product_image_set(product=mug, image=SimpleUploadedFile("mug.png", b"not an image"))
    mug.refresh_from_db()
    assert not mug.image and not mug.thumbnail


def test_import_takes_an_image_column_relative_to_the_csv(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "mug.png").write_bytes(png())
    csv = tmp_path / "products.csv"
    csv.write_text(
        f"{HEADER},image\nMUG,Camp mug,12.50,Outdoor,allow,,,Mug,pics/mug.png\n"
        "PAN,Pan,30.00,Kitchen,allow,,,Pan,\n"
    )
    out = StringIO()
    call_command("import_products", str(csv), stdout=out)
    assert "Saving 1 picture(s) and their thumbnails…" in out.getvalue()
    mug = Product.objects.get(sku="MUG")
    assert (mug.thumbnail_width, mug.thumbnail_height) == (480, 360)
    assert not Product.objects.get(sku="PAN").image
    out = StringIO()
    call_command("import_products", str(csv), stdout=out)  # again: the same picture
    assert "picture" not in out.getvalue()


@pytest.mark.parametrize(
    ("cell", "message"),
    [("pics/none.png", "no picture at 'pics/none.png'"), ("notes.txt", "is not a picture")],
)
def test_import_refuses_a_missing_or_broken_picture_and_imports_nothing(tmp_path, cell, message):
    (tmp_path / "notes.txt").write_text("hello")
    csv = tmp_path / "products.csv"
    csv.write_text(f"{HEADER},image\nMUG,Camp mug,12.50,Outdoor,allow,,,Mug,{cell}\n")
    with pytest.raises(CommandError, match=re.escape(message)) as refused:
        call_command("import_products", str(csv), stdout=StringIO())
    assert "row 2: SKU MUG" in str(refused.value)
    assert not Product.objects.exists()


def test_staff_upload_a_picture_in_the_admin(admin_client):
    mug = product_create(sku="MUG", name="Camp mug")
    url = f"/admin/catalog/product/{mug.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {name: form.initial.get(name, "") for name in form.fields if name != "alternatives"}
    data |= {"category": mug.category_id, "image_alt": "A blue enamel mug"}
    data["image"] = SimpleUploadedFile("mug.png", png(1200, 900), content_type="image/png")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    mug.refresh_from_db()
    assert mug.image_alt == "A blue enamel mug"
    assert (mug.thumbnail_width, mug.thumbnail_height) == (480, 360)
