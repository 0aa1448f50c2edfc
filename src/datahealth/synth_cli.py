"""``datahealth synth …``: synthetic data sets with known truth (a group other features may add to)."""

from __future__ import annotations

import typer

from datahealth.analytics.linked import cli as linked_cli
from datahealth.analytics.study import cli as study_cli

app = typer.Typer(help="Synthetic data with known truth / 合成データ", no_args_is_help=True)
app.command("study")(study_cli.synth_study)
app.command("claims")(linked_cli.claims)
