"""``manage.py salesforce_connect --tenant S --instance-url URL --client-id ID
--client-secret SECRET [--api-version 62.0]``: connect the tenant's Salesforce org.

``--client-secret -`` reads the secret from standard input (it stays out of the shell
history and the process list). ``--remove`` deletes the connection and its secret.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from activities.services.salesforce import salesforce_connect, salesforce_disconnect
from activities.services.salesforce_client import SalesforceError
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.tenancy import tenant_scope


class Command(BaseCommand):
    help = "Connect a tenant's Salesforce org (OAuth 2.0 client credentials), or remove it."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--instance-url", help="https://<my domain>.my.salesforce.com")
        parser.add_argument("--client-id", help="the app's consumer key")
        parser.add_argument("--client-secret", help="the app's consumer secret ('-': stdin)")
        parser.add_argument("--api-version", default="62.0", help="REST API version (62.0)")
        parser.add_argument(
            "--remove", action="store_true", help="delete the connection and its secret"
        )

    def handle(self, *args, **options):
        tenant = tenant_from_slug(options["tenant"])
        with tenant_scope(tenant):
            if options["remove"]:
                if salesforce_disconnect(tenant=tenant):
                    self.stdout.write(f"{tenant.slug}: Salesforce connection removed.")
                else:
                    self.stdout.write(f"{tenant.slug}: no Salesforce connection to remove.")
                return
            missing = [
                f"--{name.replace('_', '-')}"
                for name in ("instance_url", "client_id", "client_secret")
                if not options[name]
            ]
            if missing:
                raise CommandError(f"Required: {', '.join(missing)}.")
            secret = options["client_secret"]
            if secret == "-":  # noqa: S105 (the stdin marker, not a secret)
                secret = sys.stdin.readline().strip()
            try:
                conn = salesforce_connect(
                    tenant=tenant,
                    instance_url=options["instance_url"],
                    client_id=options["client_id"],
                    client_secret=secret,
                    api_version=options["api_version"],
                )
            except ValidationError as exc:
                problems = "; ".join(
                    f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
                )
                raise CommandError(problems) from None
            except SalesforceError as exc:
                # Salesforce's own words (error_description); nothing was stored.
                raise CommandError(f"Salesforce refused: {exc}") from None
        self.stdout.write(
            f"{tenant.slug}: connected to Salesforce org {conn.org_id or '?'} at "
            f"{conn.instance_url} (API {conn.api_version}). The next pull reads it."
        )
