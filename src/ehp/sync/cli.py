"""``ehp sync status | conflicts | news | verify`` and the start of replication by ``ehp serve``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from ehp.store.clock import to_instant
from ehp.store.database import migrate, open_engine
from ehp.sync.agent import NodeAgent, NodeSyncSettings
from ehp.sync.client import CentralClient, CentralRefused, CentralUnavailable, ClientCredentials
from ehp.sync.router import Router
from ehp.sync.schema import sync_conflicts, sync_cursors, sync_inbox
from ehp.sync.shipper import SHIPPED
from ehp.sync.status import central_status, node_status
from ehp.sync.verify import node_patients, verify

log = logging.getLogger(__name__)
sync_app = typer.Typer(
    help="Federation: a node's lag, conflicts and news; node against centre.", no_args_is_help=True
)
DatabaseOption = Annotated[str, typer.Option("--database", help="The node's (or centre's) database URL.")]


def start_sync(
    database: str,
    role: str,
    central: str | None,
    node_id: str | None,
    organizations: list[str],
    client_id: str | None,
    client_key: Path | None,
) -> None:
    """Start the centre's router, or a node's shipper and puller when ``--central`` is given."""
    if role == "central":
        if central or node_id:
            raise typer.BadParameter("--central and --node-id are for --role node")
        Router(open_engine(database, pool_size=2)).start()
        return
    if central is None:
        if node_id or client_id:
            raise typer.BadParameter("--node-id and --client-id need --central URL", param_hint="--central")
        return
    if node_id is None:
        raise typer.BadParameter("a node shipping to a centre needs --node-id", param_hint="--node-id")
    if (client_id is None) != (client_key is None):
        raise typer.BadParameter("--client-id and --client-key go together", param_hint="--client-key")
    bad = [o for o in organizations if not o.startswith("Organization/")]
    if bad:
        raise typer.BadParameter(f"{bad[0]} is not Organization/ID", param_hint="--organization")
    credentials = ClientCredentials.from_file(client_id, client_key) if client_id and client_key else None
    NodeAgent(NodeSyncSettings(database, central, node_id, organizations, credentials)).start()
    log.info("node %s ships its changes to %s", node_id, central)


@sync_app.command("status")
def status(database: DatabaseOption) -> None:
    """A node's lag (unsent changes, age of the oldest) and a centre's last applied seq per node."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        centre = central_status(engine)
        with engine.connect() as connection:
            is_node = connection.execute(
                select(sync_cursors.c.name).where(sync_cursors.c.name == SHIPPED)
            ).first()
        node = node_status(engine) if is_node is not None or centre is None else None
    finally:
        engine.dispose()
    if node is not None:
        age = f"{node.oldest_unsent_seconds:.1f}s" if node.oldest_unsent_seconds is not None else "-"
        typer.echo(
            f"node: shipped up to seq {node.shipped} of {node.last_seq}; unsent {node.unsent} "
            f"(oldest {age}); conflicts {node.conflicts}; passports pulled {node.passports_pulled}, "
            f"pending {node.passports_pending}; news {node.news}"
        )
    if centre is not None:
        typer.echo(
            f"centre: routed up to seq {centre.routed} of {centre.last_seq}; "
            f"{centre.nodes} node(s) registered; {centre.followed} citizen(s) followed"
        )
        for origin in centre.origins:
            typer.echo(
                f"  node {origin.node_id}: applied up to its seq {origin.applied_seq} at {origin.applied_at}"
            )


@sync_app.command("conflicts")
def conflicts(database: DatabaseOption) -> None:
    """Local changes the centre refused (someone else changed the resource first): resolve them by hand."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(select(sync_conflicts).order_by(sync_conflicts.c.seq)).all()
    finally:
        engine.dispose()
    for row in rows:
        typer.echo(
            f"seq {row.seq}: {row.resource_type}/{row.resource_id}/_history/{row.version} "
            f"(centre has version {row.central_version}) at {to_instant(row.detected)}: {row.reason}"
        )
    typer.echo(f"{len(rows)} conflict(s)")


@sync_app.command("news")
def news(
    database: DatabaseOption,
    limit: Annotated[int, typer.Option(help="How many of the latest to show.")] = 50,
) -> None:
    """What arrived from elsewhere about this node's patients (ambulance calls, discharges...)."""
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        with engine.connect() as connection:
            rows = connection.execute(select(sync_inbox).order_by(sync_inbox.c.id.desc()).limit(limit)).all()
    finally:
        engine.dispose()
    for row in reversed(rows):
        typer.echo(
            f"{to_instant(row.received)} Patient/{row.patient_id}: "
            f"{row.resource_type}/{row.resource_id}/_history/{row.version} from {row.origin}"
        )


@sync_app.command("verify")
def verify_command(
    database: DatabaseOption,
    central: Annotated[str, typer.Option(help="The centre's URL.")],
    node_id: Annotated[
        str,
        typer.Option(
            help="This node's id at the centre: the centre shows a passport's version hashes only to "
            "the node serving the citizen's polyclinic."
        ),
    ],
    patient: Annotated[
        list[str] | None,
        typer.Option(help="A Patient id to compare (repeatable; default: every Patient here)."),
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Backend Services client id at the centre.")] = None,
    client_key: Annotated[Path | None, typer.Option(help="Its PEM private key.")] = None,
) -> None:
    """Compare a node's passports with the centre's, version by version; exit 1 on any difference."""
    credentials = ClientCredentials.from_file(client_id, client_key) if client_id and client_key else None
    engine = open_engine(database, pool_size=1)
    client = CentralClient(central, node_id, credentials)
    try:
        report = verify(engine, client, patient or node_patients(engine))
    except (CentralUnavailable, CentralRefused) as failure:
        typer.echo(f"cannot verify: {failure}", err=True)
        raise typer.Exit(2) from None
    finally:
        client.close()
        engine.dispose()
    for difference in report.differences:
        typer.echo(str(difference))
    typer.echo(
        f"{report.patients} patient(s): {report.node_versions} version(s) on the node, "
        f"{report.central_versions} at the centre, {len(report.differences)} difference(s)"
    )
    if report.differences:
        raise typer.Exit(1)
