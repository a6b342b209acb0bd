"""The `privacy` command line."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from privacy.config import Settings, get_settings

app = typer.Typer(help="Privacy Vault: a GDPR vault for personal data.", no_args_is_help=True)
keys_app = typer.Typer(help="Key management.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
retention_app = typer.Typer(
    help="Retention policies, legal holds and purges.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic's ValidationError, but never show values
        console.print(f"[red]configuration error:[/red] {_explain(exc)}")
        raise typer.Exit(2) from None


def _explain(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for e in errors():
            loc = ".".join(str(p) for p in e.get("loc", ()))
            parts.append(f"{('PRIVACY_' + loc.upper()) if loc else 'settings'}: {e.get('msg')}")
        return "; ".join(parts)
    return str(exc)


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
    ssl_certfile: Annotated[str | None, typer.Option(help="TLS certificate (PEM).")] = None,
    ssl_keyfile: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Run the API (on the embedded default, with its own OpenBao)."""
    import uvicorn

    settings = _settings()
    _logging(settings)
    _retention_file(settings)
    if bool(ssl_certfile) != bool(ssl_keyfile):
        console.print("[red]TLS needs both --ssl-certfile and --ssl-keyfile[/red]")
        raise typer.Exit(2)
    for tls_file in (ssl_certfile, ssl_keyfile):
        if tls_file and not Path(tls_file).is_file():
            console.print(f"[red]no such file: {tls_file}[/red]")
            raise typer.Exit(2)
    if settings.embedded_vault and workers > 1:
        console.print("[red]the embedded OpenBao supports one worker; set PRIVACY_VAULT_ADDR[/red]")
        raise typer.Exit(2)
    if settings.embedded_vault:
        console.print(
            "[yellow]embedded OpenBao: its unseal key is kept in the data directory. "
            "For one machine only; point PRIVACY_VAULT_ADDR at a real cluster in production."
            "[/yellow]"
        )
    uvicorn.run(
        "privacy.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level=settings.log_level.lower(),
        access_log=False,  # URLs can carry lookup values (?email=); we log route templates
        proxy_headers=False,
    )


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from privacy.db import make_engine
    from privacy.migrations.run import upgrade

    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    engine.dispose()
    console.print("[green]database is up to date[/green]")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's e-mail address.")],
) -> None:
    """Create an admin user. The password is read from stdin or a prompt, never argv."""
    from pydantic import ValidationError

    from privacy.auth.schemas import UserCreate
    from privacy.auth.service import create_user
    from privacy.db import new_session
    from privacy.errors import PrivacyError
    from privacy.runtime import build_runtime

    settings = _settings()
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        data = UserCreate(email=email, password=password, roles=["admin"])
    except ValidationError as exc:
        console.print(f"[red]invalid input:[/red] {_explain(exc)}")
        raise typer.Exit(2) from None
    # The runtime (Vault and the database) unwraps the password pepper.
    rt = build_runtime(settings)
    try:
        with new_session(rt.engine) as session:
            user = create_user(session, rt, None, data=data)
            session.commit()
    except PrivacyError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        rt.close()
    console.print(f"[green]admin created:[/green] {user.id}")


@keys_app.command("rotate")
def keys_rotate(
    keep_old: Annotated[
        bool, typer.Option(help="Do not raise min_decryption_version afterwards.")
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="Finish an interrupted rotation instead of rotating again.")
    ] = False,
) -> None:
    """Rotate the KEK and rewrap every DEK inside Vault (resumable)."""
    from privacy.keys import rotation
    from privacy.runtime import build_runtime
    from privacy.scheduling.service import JobAlreadyRunning

    settings = _settings()
    _logging(settings)
    rt = build_runtime(settings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        before = rotation.status(rt)
        with _progress() as bar:
            task = bar.add_task("rewrapping DEKs", total=before.subjects_total)
            st = rotation.run(
                rt,
                resume=resume,
                retire_old=not keep_old,
                started_by="cli",
                progress=lambda n: bar.advance(task, n),
            )
    except JobAlreadyRunning as exc:
        console.print(f"[yellow]{exc.detail}[/yellow]")
        raise typer.Exit(3) from None
    finally:
        rt.close()
    console.print(
        f"[green]KEK {st.kek} at v{st.latest_version}; {st.subjects_on_latest}/"
        f"{st.subjects_total} DEKs rewrapped; min_decryption_version "
        f"{st.min_decryption_version}[/green]"
    )


@keys_app.command("rotate-token-key")
def keys_rotate_token_key() -> None:
    """Sign access tokens with a new key; tokens signed with the previous key keep working
    until they expire, older keys stop verifying."""
    from privacy.auth import keyring
    from privacy.runtime import build_runtime

    settings = _settings()
    rt = build_runtime(settings)
    try:
        kid = keyring.rotate(rt.engine, rt.transit, vault_key=settings.service_key_name)
    finally:
        rt.close()
    console.print(f"[green]token-signing key is now {kid}; replicas switch within a minute[/green]")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log end to end; exit 1 naming the first bad entry."""
    from privacy.audit import cli as audit_cli

    raise typer.Exit(audit_cli.verify(_settings(), console))


@audit_app.command("seal")
def audit_seal() -> None:
    """Sign the audit chain head now with the Vault-held key."""
    from privacy.audit import cli as audit_cli

    raise typer.Exit(audit_cli.seal(_settings(), console))


@audit_app.command("export")
def audit_export(
    output: Annotated[str, typer.Option("-o", "--output", help="File to write.")],
    format: Annotated[str, typer.Option(help="jsonl (with seals) or csv.")] = "jsonl",
) -> None:
    """Export the audit log (JSON Lines verifies offline with offline_verify.py)."""
    from privacy.audit import cli as audit_cli

    if format not in ("jsonl", "csv"):
        console.print("[red]--format must be jsonl or csv[/red]")
        raise typer.Exit(2)
    raise typer.Exit(audit_cli.export(_settings(), console, output=output, format=format))


@audit_app.command("purge")
def audit_purge() -> None:
    """Purge sealed segments older than PRIVACY_AUDIT_RETENTION_DAYS."""
    from privacy.audit import cli as audit_cli

    raise typer.Exit(audit_cli.purge(_settings(), console))


def _retention_file(settings: Settings) -> object:
    """The retention file, checked before anything starts: a bad one exits 2 naming the line."""
    from privacy.retention import cli as retention_cli

    cfg = retention_cli.check_file(settings, console)
    if cfg is None:
        raise typer.Exit(2)
    return cfg


@retention_app.command("policies")
def retention_policies() -> None:
    """Show the retention policies and legal holds in force."""
    from privacy.retention import cli as retention_cli

    cfg = _retention_file(_settings())
    retention_cli.show_policies(cfg, Console())  # type: ignore[arg-type]


@retention_app.command("purge")
def retention_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go and what holds keep.")
    ] = False,
) -> None:
    """Run the retention purge now (exit 3 if it is running elsewhere)."""
    from privacy.retention import cli as retention_cli

    settings = _settings()
    _logging(settings)
    _retention_file(settings)
    raise typer.Exit(retention_cli.purge(settings, console, dry_run=dry_run))


@app.command()
def report(
    kind: Annotated[str, typer.Argument(help="retention, ropa or requests")],
    output: Annotated[str, typer.Option("-o", "--output", help="File to write.")],
    format: Annotated[str, typer.Option(help="pdf, json or csv.")] = "pdf",
    days: Annotated[int, typer.Option(help="Retention: purges counted over these days.")] = 90,
) -> None:
    """Write a DPO report (retention, the Art. 30 record of processing, or the request register)."""
    from privacy.reports import cli as reports_cli

    if kind not in ("retention", "ropa", "requests") or format not in ("pdf", "json", "csv"):
        console.print("[red]report retention|ropa|requests --format pdf|json|csv -o FILE[/red]")
        raise typer.Exit(2)
    settings = _settings()
    _logging(settings)
    _retention_file(settings)
    raise typer.Exit(reports_cli.write(settings, console, kind, format, output, days))


@app.command()
def worker() -> None:
    """Run the scheduled jobs alone (for deployments with several API replicas)."""
    from jobs.scheduler import run_forever
    from privacy.runtime import build_runtime

    settings = _settings()
    _logging(settings)
    _retention_file(settings)
    rt = build_runtime(settings)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    console.print("[green]privacy worker: running the scheduled jobs[/green]")
    try:
        run_forever(rt)
    finally:
        rt.close()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )


if __name__ == "__main__":
    app()
