from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from phidesk.config.tls import ensure_self_signed, server_context


class Command(BaseCommand):
    help = "Serve PHIdesk over HTTPS (TLS 1.2+, HSTS). Generates a self-signed certificate once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8443)
        parser.add_argument("--cert", help="PEM certificate (default: var/tls/tls.crt, generated)")
        parser.add_argument("--key", help="PEM private key (default: var/tls/tls.key, generated)")
        parser.add_argument("--workers", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cert"] and options["key"]:
            cert, key = Path(options["cert"]), Path(options["key"])
        else:
            hosts = sorted({options["host"], "127.0.0.1", "localhost"})
            cert, key = ensure_self_signed(Path(settings.VAR_DIR) / "tls", hosts)
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)

        def context_factory(
            config: uvicorn.Config, default: Callable[[], ssl.SSLContext]
        ) -> ssl.SSLContext:
            return server_context(cert, key)

        self.stdout.write(f"PHIdesk on https://{options['host']}:{options['port']}/ (TLS 1.2+)")
        uvicorn.run(
            "phidesk.config.asgi:application",
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            ssl_context_factory=context_factory,
            proxy_headers=False,
            server_header=False,
            log_level="info",
            # Access lines carry query strings (search text); ours do not.
            access_log=False,
            lifespan="off",
        )
