# Encryption at rest (issue 3): tickets and messages get a UUID (the row identity bound
# into their ciphertexts, known before insert), tickets get blind-index columns for
# exact-match patient search, and message bodies become an encrypted PHIField.
#
# Existing rows keep their values as they are; `phidesk keys reencrypt` seals any value
# still in clear (`phidesk keys status` counts them). The UUIDs follow Django's recipe
# for unique fields on tables with rows: add nullable, fill one by one, make unique.

import uuid

from django.db import migrations, models

import phidesk.core.fields


def fill_uuids(apps, schema_editor):
    for name in ("Ticket", "Message"):
        model = apps.get_model("tickets", name)
        for pk in model._base_manager.filter(uuid__isnull=True).values_list("pk", flat=True):
            model._base_manager.filter(pk=pk).update(uuid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0001_queues_tickets_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="uuid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="message",
            name="uuid",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(fill_uuids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="ticket",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="message",
            name="uuid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="ticket",
            name="patient_mrn_bidx",
            field=phidesk.core.fields.BlindIndexField(of="patient_mrn"),
        ),
        migrations.AddField(
            model_name="ticket",
            name="patient_name_bidx",
            field=phidesk.core.fields.BlindIndexField(of="patient_name"),
        ),
        migrations.AddField(
            model_name="ticket",
            name="patient_dob_bidx",
            field=phidesk.core.fields.BlindIndexField(of="patient_dob"),
        ),
        migrations.AlterField(
            model_name="message",
            name="body",
            field=phidesk.core.fields.PHIField(blank=False, default="", kind="text"),
        ),
        migrations.AlterField(
            model_name="ticketevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("transitioned", "Transitioned"),
                    ("assigned", "Assigned"),
                    ("updated", "Updated"),
                    ("replied", "Replied"),
                    ("noted", "Noted"),
                    ("phi_revealed", "Phi Revealed"),
                    ("shredded", "Shredded"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["organization", "patient_mrn_bidx"], name="tickets_tic_organiz_2ce080_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["organization", "patient_name_bidx"], name="tickets_tic_organiz_8a72d2_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["organization", "patient_dob_bidx"], name="tickets_tic_organiz_f248c3_idx"
            ),
        ),
    ]
