"""``ehp export --url BASE --out DIR``: drive a server's ``$export`` from the command line.

Kicks off the export (system level, or ``--patients`` / ``--group ID``), follows its status with a
progress bar (``X-Progress``), downloads every file of the manifest to ``DIR/Type.NNN.ndjson``
(streamed), and writes the manifest beside them as ``manifest.json``. The files are what ``ehp
load`` and another server's ``$import`` read.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

POLL_SECONDS = 0.5


def export_command(
    url: Annotated[
        str, typer.Option("--url", help="FHIR base of the server, e.g. http://127.0.0.1:8080/fhir")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the NDJSON files to (created)")],
    types: Annotated[str | None, typer.Option("--type", help="_type: comma-separated resource types")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="_since: only what changed after this instant")
    ] = None,
    type_filter: Annotated[
        list[str] | None, typer.Option("--type-filter", help="_typeFilter (repeatable): Type?search")
    ] = None,
    patients: Annotated[
        bool, typer.Option("--patients", help="Patient-level export (Patient/$export)")
    ] = False,
    group: Annotated[str | None, typer.Option("--group", help="Group-level export of this Group id")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="EHP_TOKEN", help="Bearer token")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
) -> None:
    """Export a server's data with Bulk Data $export into a folder of NDJSON files."""
    base = url.rstrip("/")
    path = f"Group/{group}/$export" if group else "Patient/$export" if patients else "$export"
    params: list[tuple[str, str | int | float | bool | None]] = []
    if types:
        params.append(("_type", types))
    if since:
        params.append(("_since", since))
    params.extend(("_typeFilter", value) for value in type_filter or ())
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(headers=headers, timeout=120) as client:
        kick = client.post(f"{base}/{path}", params=params, headers={"Prefer": "respond-async"})
        if kick.status_code != 202:
            raise typer.BadParameter(f"the server refused the export: HTTP {kick.status_code} {_said(kick)}")
        manifest = _follow(client, kick.headers["Content-Location"], quiet)
        out.mkdir(parents=True, exist_ok=True)
        numbers: Counter[str] = Counter()
        for output in manifest.get("output", []):
            name = f"{output['type']}.{numbers[output['type']]:03d}.ndjson"
            numbers[output["type"]] += 1
            with client.stream("GET", output["url"], headers={"Accept": "application/fhir+ndjson"}) as answer:
                if answer.status_code != 200:
                    raise typer.BadParameter(f"{output['url']} answered HTTP {answer.status_code}")
                with (out / name).open("wb") as file:
                    for chunk in answer.iter_bytes():
                        file.write(chunk)
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    total = sum(int(output.get("count", 0)) for output in manifest.get("output", []))
    typer.echo(f"exported {total} resources in {sum(numbers.values())} files to {out}")


def _follow(client: httpx.Client, status: str, quiet: bool) -> dict[str, Any]:
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=quiet, transient=True) as progress:
        task = progress.add_task("exporting", total=None)
        while True:
            answer = client.get(status)
            if answer.status_code == 200:
                manifest: dict[str, Any] = answer.json()
                return manifest
            if answer.status_code != 202:
                raise typer.BadParameter(f"the export failed: HTTP {answer.status_code} {_said(answer)}")
            progress.update(task, description=answer.headers.get("X-Progress", "exporting"))
            time.sleep(POLL_SECONDS)


def _said(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["issue"][0]["diagnostics"])[:300]
    except (ValueError, KeyError, IndexError, TypeError):
        return answer.text[:300]
