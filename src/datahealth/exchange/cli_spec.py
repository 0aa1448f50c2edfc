"""``datahealth exchange spec``: write (or ``--check``) the published specification and its JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from datahealth.exchange.spec_docs import generated_files

console = Console(soft_wrap=True)


def stale_files(directory: Path) -> list[str]:
    """Names of the generated files in ``directory`` that are missing or differ from the code."""
    stale = []
    for name, content in generated_files().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(name)
    return stale


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``datahealth exchange``."""

    @app.command("spec")
    def spec_command(
        check: Annotated[
            bool, typer.Option("--check", help="Exit 1 if the files differ from the code / 差分があれば終了コード 1")
        ] = False,
        out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the docs live / 出力先")] = Path("docs"),
    ) -> None:
        """Generate docs/exchange-spec.md and docs/exchange-spec.schema.json from the code / 規約文書の生成."""
        if check:
            stale = stale_files(out_dir)
            for name in stale:
                console.print(f"[red]differs / 差分あり[/red] {out_dir / name}", highlight=False)
            if stale:
                console.print("run `datahealth exchange spec` / `datahealth exchange spec` を実行してください")
                raise typer.Exit(code=1)
            console.print("up to date / 最新です")
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, content in generated_files().items():
            (out_dir / name).write_text(content, encoding="utf-8")
            console.print(f"wrote {out_dir / name}", highlight=False)
