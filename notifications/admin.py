from django.contrib import admin
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from notifications.models import OutboxEmail
from notifications.rendering import email_render
from notifications.services import emails_resend


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
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
        "context",
        "preview",
    ]
    readonly_fields = fields
    actions = ["resend"]

    @admin.display(description="preview")
    def preview(self, email: OutboxEmail):
        rendered = email_render(event=email.event, context=email.context)
        return format_html(
            '<p><strong>{}</strong></p><pre style="white-space:pre-wrap">{}</pre>'
            '<iframe title="Email preview" sandbox srcdoc="{}" '
            'style="width:100%;max-width:720px;height:560px;border:1px solid #ccc"></iframe>',
            rendered.subject,
            rendered.text,
            rendered.html,
        )

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("notifications.change_outboxemail")

    @admin.action(description="Send the selected failed emails again", permissions=["resend"])
    def resend(self, request, queryset):
        count = emails_resend(email_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} failed email(s) queued again.")
