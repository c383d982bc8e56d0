"""Operator commands for dashboard sign-in (no server needed).

    python -m songforge.dashboard set-password admin@localhost

The first-run account admin@localhost has no password; this gives it one (and
ends its open sessions), read from the terminal or, with --password-stdin, from
standard input for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from songforge.dashboard.sessions import end_all_sessions
from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.accounts import find_account_by_email, get_account
from songforge.services.passwords import password_problem, set_password
from songforge.settings import Settings


def add_set_password_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account", help="account id or email")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise SystemExit("the passwords differ")
    return first


def set_password_command(args: argparse.Namespace, settings: Settings | None = None) -> int:
    settings = settings or Settings()
    db = Database(settings.resolved_database_url(), pool_size=1)
    try:
        upgrade_to_head(db)
        with db.read() as conn:
            account = get_account(conn, args.account) or find_account_by_email(conn, args.account)
        if account is None:
            raise SystemExit(f"no account {args.account!r} (give its id or email)")
        password = _read_password(args.password_stdin)
        problem = password_problem(password, account.email or "")
        if problem is not None:
            raise SystemExit(problem)
        with db.write() as conn:
            set_password(conn, account.id, password)
            ended = end_all_sessions(conn, account.id)
    finally:
        db.dispose()
    print(f"password set for {account.email or account.id} ({ended} open sessions ended)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m songforge.dashboard")
    sub = parser.add_subparsers(dest="command", required=True)
    set_pw = sub.add_parser("set-password", help="set an account's dashboard password")
    add_set_password_arguments(set_pw)
    set_pw.set_defaults(func=set_password_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
