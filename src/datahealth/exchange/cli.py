"""``datahealth exchange …``: the exchange hub's commands, a thin shell over the exchange services.

Each group of commands lives in its own module and registers itself here.
"""

from __future__ import annotations

import typer

from datahealth.exchange import cli_fhir, cli_ingest, cli_spec

app = typer.Typer(help="Health data exchange hub (健康情報等交換規約) / 健康データ交換", no_args_is_help=True)

for module in (cli_ingest, cli_spec, cli_fhir):
    module.register(app)
