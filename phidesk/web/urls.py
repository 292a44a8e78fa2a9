from django.urls import path

from phidesk.web import audit_views, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("portal/", views.portal, name="portal"),
    path("portal/new/", views.ticket_new, name="ticket_new"),
    path("desk/", views.desk, name="desk"),
    path("desk/patient/", views.patient_search, name="patient_search"),
    path("admin/keys/", views.keys_page, name="keys"),
    path("admin/keys/rotate", views.keys_rotate, name="keys_rotate"),
    path("t/<str:key>/", views.ticket_detail, name="ticket_detail"),
    path("t/<str:key>/reply", views.ticket_reply, name="ticket_reply"),
    path("t/<str:key>/note", views.ticket_note, name="ticket_note"),
    path("t/<str:key>/assign", views.ticket_assign, name="ticket_assign"),
    path("t/<str:key>/transition", views.ticket_transition, name="ticket_transition"),
    path("t/<str:key>/edit", views.ticket_edit, name="ticket_edit"),
    path("t/<str:key>/reveal", views.ticket_reveal, name="ticket_reveal"),
    path("audit/", audit_views.audit_search, name="audit_search"),
    path("audit/patient", audit_views.audit_patient_report, name="audit_patient_report"),
    path("audit/export.<str:fmt>", audit_views.audit_export, name="audit_export"),
    path("audit/saved/", audit_views.audit_saved_create, name="audit_saved_create"),
    path(
        "audit/saved/<int:saved_id>/delete",
        audit_views.audit_saved_delete,
        name="audit_saved_delete",
    ),
]
