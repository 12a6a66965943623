import django.db.models.deletion
import django_tenants.postgresql_backend.base
from django.db import migrations, models


def create_public_tenant(apps, schema_editor):
    Partner = apps.get_model("tenancy", "Partner")
    Partner.objects.get_or_create(
        schema_name="public",
        defaults={"name": "Brand", "slug": "_public", "status": "ready"},
    )


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Partner",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("schema_name", models.CharField(db_index=True, max_length=63, unique=True, validators=[django_tenants.postgresql_backend.base._check_schema_name])),
                ("name", models.CharField(max_length=120)),
                ("slug", models.SlugField(max_length=40, unique=True)),
                ("status", models.CharField(choices=[("creating", "Creating"), ("ready", "Ready"), ("failed", "Failed")], default="creating", max_length=16)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="Domain",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("domain", models.CharField(db_index=True, max_length=253, unique=True)),
                ("is_primary", models.BooleanField(db_index=True, default=True)),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="domains", to="tenancy.partner")),
            ],
            options={"abstract": False},
        ),
        migrations.RunPython(create_public_tenant, migrations.RunPython.noop),
    ]
