from django.contrib import admin
from django.utils.html import format_html

from notifications.models import OutboxEmail


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """The log of every email the store wrote; read-only, rows come from the outbox."""

    list_display = ["created_at", "to_email", "event", "subject", "status", "attempts", "sent_at"]
    list_filter = ["status", "event"]
    search_fields = ["to_email", "subject", "key"]
    fields = [
        "key",
        "event",
        "to_email",
        "subject",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "body_text",
        "preview",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="HTML preview")
    def preview(self, email: OutboxEmail):
        if not email.body_html:
            return "—"
        return format_html(
            '<iframe title="Email preview" sandbox srcdoc="{}" '
            'style="width:100%;max-width:720px;height:560px;border:1px solid #ccc"></iframe>',
            email.body_html,
        )
