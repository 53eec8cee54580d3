from django.contrib import admin

from dangol.sales.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Read-mostly: tasks change through the staff app so that audit and events happen."""

    list_display = ("title", "status", "priority", "due_at", "assignee", "team", "source")
    list_filter = ("status", "priority", "source")
    search_fields = ("title",)
    raw_id_fields = ("customer", "organization", "assignee", "created_by", "completed_by")
    readonly_fields = ("created_at", "updated_at", "completed_at", "completed_by", "data")
