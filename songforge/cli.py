"""The ``songforge`` command: serve | worker | migrate | accounts | keys | credits | engines |
generate."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from songforge.settings import Settings


def _settings() -> Settings:
    return Settings()


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from songforge.db.database import Database
    from songforge.db.migrate import upgrade_to_head

    db = Database(settings.resolved_database_url(), pool_size=1)
    upgrade_to_head(db)
    return db


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from songforge.api.proxies import SERVER_OPTIONS
    from songforge.app import create_app
    from songforge.bootstrap import (
        admin_sign_in_text,
        bootstrap_if_empty,
        quickstart_text,
        second_run_text,
        songforge_command,
    )
    from songforge.context import AppContext
    from songforge.worker.supervisor import DrainingServer, WorkerSupervisor

    overrides = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "workers": args.workers}.items()
        if v is not None
    }
    settings = Settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    context = AppContext.from_settings(settings)
    app = create_app(settings, context=context)
    first = bootstrap_if_empty(context.db, settings.bootstrap_credits)
    base_url = settings.public_url or f"http://{settings.host}:{settings.port}"
    command = songforge_command()
    if first is not None:
        print(f"\nFirst run: created account admin@localhost with {first.credits} credits.")
        print(quickstart_text(base_url, first.api_key, command))
        print(admin_sign_in_text(base_url, first.admin_password, command), flush=True)
    else:
        print(second_run_text(base_url, settings.data_dir, command), flush=True)
    supervisor = None
    if settings.workers > 0:
        supervisor = WorkerSupervisor(
            settings, settings.workers, settings.worker_models, db=context.db
        )
        # Until its workers are up, tasks are queued rather than refused (issue 9.11).
        context.worker_startup = supervisor.starting
        supervisor.start()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        # SIGTERM: stop accepting, let requests in flight finish (at most this long).
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        **SERVER_OPTIONS,
    )
    # What exists now (modules, the app, its routes and statements) lives as long
    # as the process. Frozen, it is left out of the collector's full passes, which
    # otherwise walk all of it (~136,000 objects, 60-80 ms with every request
    # stalled) each time enough request objects have outlived a young pass: that
    # was the create route's p99 (decision 0013, item 27).
    gc.collect()
    gc.freeze()
    try:
        DrainingServer(config, supervisor).run()
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from songforge.worker.process import run_worker_process

    models = [m for m in (args.models or "").split(",") if m]
    settings = _settings()
    _database(settings).dispose()
    return run_worker_process(settings, models)


def cmd_migrate(args: argparse.Namespace) -> int:
    from songforge.db.migrate import current_revision

    db = _database(_settings())
    print(f"database at revision {current_revision(db)}")
    db.dispose()
    return 0


def _find_account(conn, ref: str):  # type: ignore[no-untyped-def]
    from songforge.services.accounts import find_account_by_email, get_account

    account = get_account(conn, ref) or find_account_by_email(conn, ref)
    if account is None:
        raise SystemExit(f"no account {ref!r} (give its id or email)")
    return account


def cmd_accounts(args: argparse.Namespace) -> int:
    from songforge.services.accounts import create_account, list_accounts

    if args.action == "set-password":
        from songforge.dashboard.admin_cli import set_password_command

        return set_password_command(args, _settings())
    db = _database(_settings())
    with db.write() as conn:
        if args.action == "create":
            account = create_account(
                conn,
                email=args.email,
                display_name=args.name or "",
                role="admin" if args.admin else "user",
            )
            print(f"{account.id}\t{account.email}\t{account.role}")
        else:
            for account in list_accounts(conn):
                print(
                    f"{account.id}\t{account.email or '-'}\t{account.role}\t"
                    f"balance={account.balance}\theld={account.held}"
                )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from songforge.db.types import utcnow
    from songforge.services.keys import create_key, list_keys, revoke_key

    settings = _settings()
    db = _database(settings)
    with db.write() as conn:
        account = _find_account(conn, args.account)
        if args.action == "create":
            created = create_key(
                conn,
                account.id,
                name=args.name or "",
                expires_at=utcnow() + timedelta(days=args.expires_days)
                if args.expires_days
                else None,
                credit_cap=args.credit_cap,
                allowed_models=args.models.split(",") if args.models else None,
            )
            print(created.secret)
            print(f"(key {created.key.id}; the secret above is shown only once)", file=sys.stderr)
        elif args.action == "list":
            for key in list_keys(conn, account.id):
                state = "revoked" if key.revoked_at else "active"
                print(
                    f"{key.id}\t{key.masked}\t{key.name}\t{state}\t"
                    f"last used {key.last_used_at or 'never'}"
                )
        else:
            if not revoke_key(conn, account.id, args.key_id):
                raise SystemExit(f"no active key {args.key_id!r} on this account")
            print(f"revoked {args.key_id}")
    if args.action == "revoke":
        # Committed: tell the running API replicas to drop it from their caches now.
        from songforge.services.invalidation import build_invalidation

        invalidation = build_invalidation(settings.resolved_redis_url())
        invalidation.publish_key_revoked(args.key_id)
        invalidation.close()
    return 0


def cmd_credits(args: argparse.Namespace) -> int:
    from songforge.services.orders import grant_credits

    db = _database(_settings())
    with db.write() as conn:
        account = _find_account(conn, args.account)
        if args.action == "add":
            if args.amount <= 0:
                raise SystemExit("amount must be positive")
            order = grant_credits(
                conn, account.id, args.amount, provider="operator", note=args.note or ""
            )
            print(f"order {order.id}: +{order.credits} credits")
        account = _find_account(conn, account.id)
        print(f"balance {account.balance}, held {account.held}, available {account.available}")
    return 0


def cmd_engines(args: argparse.Namespace) -> int:
    from songforge.catalog import load_catalog
    from songforge.engines.remote.check import check_engines, format_checks

    catalog = load_catalog(_settings().catalog_path)
    models = [m for m in (args.models or "").split(",") if m]
    checks = check_engines(catalog, models)
    print("model\tengine\tstate\tkey\tdetail")
    print(format_checks(checks))
    return 0 if all(check.ok for check in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="songforge",
        description=(
            "songforge: a self-hostable music-generation API. Serve it, run workers, "
            "manage accounts, keys and credits, or make a song with `songforge generate`."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and, by default, workers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="worker processes to start (0 = API only)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a worker process")
    worker.add_argument("--models", help="comma-separated model ids (default: all in the catalog)")
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    accounts = sub.add_parser("accounts", help="create or list accounts")
    accounts_sub = accounts.add_subparsers(dest="action", required=True)
    create = accounts_sub.add_parser("create")
    create.add_argument("--email", required=True)
    create.add_argument("--name")
    create.add_argument("--admin", action="store_true")
    accounts_sub.add_parser("list")
    from songforge.dashboard.admin_cli import add_set_password_arguments

    add_set_password_arguments(
        accounts_sub.add_parser("set-password", help="set an account's dashboard password")
    )
    accounts.set_defaults(func=cmd_accounts)

    keys = sub.add_parser("keys", help="create, list or revoke API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    key_create = keys_sub.add_parser("create")
    key_create.add_argument("--account", required=True, help="account id or email")
    key_create.add_argument("--name")
    key_create.add_argument("--expires-days", type=int)
    key_create.add_argument("--credit-cap", type=int)
    key_create.add_argument("--models", help="comma-separated allow-list")
    key_list = keys_sub.add_parser("list")
    key_list.add_argument("--account", required=True)
    key_revoke = keys_sub.add_parser("revoke")
    key_revoke.add_argument("--account", required=True)
    key_revoke.add_argument("key_id")
    keys.set_defaults(func=cmd_keys)

    credits = sub.add_parser("credits", help="top up or show an account's credits")
    credits_sub = credits.add_subparsers(dest="action", required=True)
    add = credits_sub.add_parser("add")
    add.add_argument("--account", required=True)
    add.add_argument("amount", type=int)
    add.add_argument("--note")
    show = credits_sub.add_parser("balance")
    show.add_argument("--account", required=True)
    credits.set_defaults(func=cmd_credits)

    engines = sub.add_parser("engines", help="check the catalog's engines and remote upstreams")
    engines_sub = engines.add_subparsers(dest="action", required=True)
    engines_check = engines_sub.add_parser(
        "check", help="does each engine run here; does each upstream answer and accept its key"
    )
    engines_check.add_argument("--models", help="comma-separated model ids (default: all)")
    engines.set_defaults(func=cmd_engines)

    try:
        from songforge.client.generate_command import add_generate_parser
    except ImportError:
        pass
    else:
        add_generate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
