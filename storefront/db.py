"""The one set-based write the ORM cannot express: INSERT … SELECT from a queryset."""

from django.db import connection
from django.db.models import Expression, Model, QuerySet


def insert_from_select(
    *,
    model: type[Model],
    source: QuerySet,
    values: dict[str, Expression],
    ignore_conflicts: bool = False,
    returning: str = "id",
) -> list:
    """Insert one `model` row per row of `source`, its fields set from `values`
    ({field name: expression over `source`'s rows}), in one statement. Returns the
    `returning` field of each new row, leaving out rows skipped as conflicts."""
    aliases = {f"insert_{i}": expression for i, expression in enumerate(values.values())}
    select, params = source.order_by().values(**aliases).query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in values)
    sqlite = connection.vendor == "sqlite"
    verb = "INSERT OR IGNORE INTO" if ignore_conflicts and sqlite else "INSERT INTO"
    on_conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts and not sqlite else ""
    sql = (
        f"{verb} {quote(model._meta.db_table)} ({columns}) {select}{on_conflict}"
        f" RETURNING {quote(model._meta.get_field(returning).column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [value for (value,) in cursor.fetchall()]
