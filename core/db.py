"""The one set-based write the ORM cannot express: INSERT … SELECT from a queryset."""

from django.core.exceptions import EmptyResultSet
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
    `returning` field of each new row, leaving out rows skipped as conflicts.
    Needs PostgreSQL, or SQLite 3.35+ (RETURNING)."""
    aliases = {f"insert_{i}": expression for i, expression in enumerate(values.values())}
    # A WHERE clause always, so that SQLite reads ON CONFLICT as the upsert clause.
    rows = source.order_by().filter(pk__isnull=False).values(**aliases)
    try:
        select, params = rows.query.sql_with_params()
    except EmptyResultSet:  # e.g. pk__in=[]: nothing to insert
        return []
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in values)
    # Only a clash on a unique key is skipped; any other constraint still raises.
    on_conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) {select}{on_conflict}"
        f" RETURNING {quote(model._meta.get_field(returning).column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [value for (value,) in cursor.fetchall()]
