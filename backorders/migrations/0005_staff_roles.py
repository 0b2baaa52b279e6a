from django.db import migrations


def roles_create(apps, schema_editor):
    from backorders.roles import roles_sync

    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("backorders", "0004_staff_permissions"),
        ("orders", "0006_staff_permissions"),
        ("catalog", "0005_product_image"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(roles_create, migrations.RunPython.noop)]
