"""Set up the database role the application connects as (PostgreSQL only).

Run it as the role that owns the tables (the one ``migrate`` uses), after ``migrate``:

    manage.py grant_app_role --role pse_app --create

The app role owns nothing and has neither SUPERUSER nor BYPASSRLS, so the row-level
security policies of pse_crm/rls.py hold for every query it sends.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction


class Command(BaseCommand):
    help = (
        "Grant the application's database role DML on every table and sequence (and on "
        "those created later by this owner). The role owns nothing and cannot bypass "
        "row-level security. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", default="pse_app", help="the application's role name")
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the role if missing (LOGIN; password from $APP_DB_PASSWORD if set)",
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args, role: str, create: bool, database: str, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("Row-level security needs PostgreSQL; SQLite has no roles.")
        qn = connection.ops.quote_name
        with transaction.atomic(using=database), connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [role])
            row = cursor.fetchone()
            if row is None:
                if not create:
                    raise CommandError(f"Role '{role}' does not exist; add --create.")
                cursor.execute(f"CREATE ROLE {qn(role)} LOGIN NOSUPERUSER NOBYPASSRLS")
                password = os.environ.get("APP_DB_PASSWORD")
                if password:
                    cursor.execute(f"ALTER ROLE {qn(role)} PASSWORD %s", [password])
                self.stdout.write(f"Created role {role}.")
            elif row[0] or row[1]:
                raise CommandError(
                    f"Role '{role}' is a superuser or has BYPASSRLS: it would see every "
                    "tenant. Use a plain role."
                )
            cursor.execute("SELECT current_user")
            owner = cursor.fetchone()[0]
            if owner == role:
                raise CommandError("Run this as the owner of the tables, not as the app role.")
            cursor.execute("SELECT current_schema()")
            schema = qn(cursor.fetchone()[0])
            cursor.execute(
                f"GRANT CONNECT ON DATABASE {qn(connection.settings_dict['NAME'])} TO {qn(role)}"
            )
            cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {qn(role)}")
            cursor.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {qn(role)}"
            )
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {qn(role)}")
            cursor.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {qn(role)}"
            )
            cursor.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                f"GRANT USAGE, SELECT ON SEQUENCES TO {qn(role)}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Role {role} may read and write every table of {schema} under the tenant "
                "policies; connect the application as this role."
            )
        )
