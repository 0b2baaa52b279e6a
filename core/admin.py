"""Admin behaviour the apps share. storefront.admin gives every registered ModelAdmin
the CheckedSelectionMixin."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect


class CheckedSelectionMixin:
    """Admin actions refuse a selection that is not a list of ids (a forged or mangled
    form) with a message, instead of a server error from the query."""

    def response_action(self, request, queryset):
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                self.model._meta.pk.clean(value, None)  # parses, and checks its range
        except ValidationError:
            self.message_user(
                request, "The selection was not understood; nothing was changed.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that services write and staff only read: no add, change or delete, so the
    change page has no Save buttons."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
