"""Admin behaviour the apps share. storefront.admin gives every registered ModelAdmin
the CheckedSelectionMixin."""

import re

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

# list_editable's row ids in a changelist POST (blank for a row without one).
_EDITED_ROW_ID = re.compile(r"^form-\d+-id$")


class CheckedSelectionMixin:
    """A changelist POST whose row ids are not ids of this model (a forged or mangled
    form: not a number, or out of the column's range) is refused with a message, before
    Django's action or list_editable handling queries with them."""

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            ids = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) + [
                value
                for name, value in request.POST.items()
                if _EDITED_ROW_ID.match(name) and value
            ]
            try:
                for value in ids:
                    self.model._meta.pk.clean(value, None)  # parses, and checks its range
            except ValidationError:
                self.message_user(
                    request,
                    "The selection was not understood; nothing was changed.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that services write and staff only read: no add, change or delete, so the
    change page has no Save buttons."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
