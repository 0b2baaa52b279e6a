"""The staff roles: each a Group holding only the permissions its work needs. The
data migration that creates them reads this table, so a change here is a new migration
calling roles_sync, never an edit in the admin that the next deploy would not know."""

WAREHOUSE = "Warehouse"
CUSTOMER_SERVICE = "Customer service"

# {group: [(app_label, codename)]}
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    WAREHOUSE: [
        ("backorders", "view_dashboard"),
        ("backorders", "view_productstock"),
        ("backorders", "receive_stock"),
        ("backorders", "view_inboundshipment"),
        ("backorders", "add_inboundshipment"),
        ("backorders", "change_inboundshipment"),
        ("backorders", "view_queuedbackorder"),
        ("orders", "view_order"),
        ("orders", "ship_order"),
        ("catalog", "view_product"),
    ],
    CUSTOMER_SERVICE: [
        ("backorders", "view_dashboard"),
        ("backorders", "view_productstock"),
        ("backorders", "view_inboundshipment"),
        ("backorders", "view_queuedbackorder"),
        ("backorders", "manage_queue"),
        ("backorders", "view_backinstocksignup"),
        ("orders", "view_order"),
        ("orders", "refund_order"),
        ("notifications", "view_outboxemail"),
        ("notifications", "change_outboxemail"),
        ("catalog", "view_product"),
    ],
}


def roles_sync(apps) -> None:
    """Give each role exactly its permissions (`apps`: a migration's or the real one)."""
    from django.contrib.auth.management import create_permissions

    for config in apps.get_app_configs():
        # Permissions are made after migrations; a fresh database needs them now.
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in wanted
        ]
        group.permissions.set(permissions)
