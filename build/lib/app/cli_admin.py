"""`llm-api user ...` and `llm-api clear ...`: account recovery and data clean-up.

These work on the database and `DATA_DIR` directly, not over HTTP, so they help exactly
when no admin can log in (forgotten password, disabled last admin). They replace the
original project's scripts and its committed file of plaintext passwords: passwords are
typed at a prompt or piped on stdin, never given as arguments (which `ps` would show).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import shutil
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlmodel import delete, select

from app.db import ChatSession, Database, User
from app.migrations import migrate
from app.services import accounts
from settings import Settings, get_settings

__all__ = ["register"]

log = logging.getLogger("llm_api.cli")

# What `clear` can remove: flag -> folder under DATA_DIR (sessions are database rows).
_FOLDERS = {"uploads": "uploads", "scratch": "scratch", "rag": "rag", "logs": "logs"}


def register(subparsers: Any) -> None:
    """Add `user` and `clear` to the `llm-api` parser (called from app/cli.py)."""
    user = subparsers.add_parser("user", help="manage accounts directly in the database (recovery)")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=accounts.ROLES, default="user")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin, not a prompt")
    add.set_defaults(func=_sync(_user_add))
    actions.add_parser("list", help="list accounts").set_defaults(func=_sync(_user_list))
    passwd = actions.add_parser("passwd", help="set a new password (logs the user out everywhere)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=_sync(_user_passwd))
    disable = actions.add_parser("disable", help="disable an account (its tokens stop working)")
    disable.add_argument("username")
    disable.add_argument("--enable", action="store_true", help="enable it again instead")
    disable.set_defaults(func=_sync(_user_disable))

    clear = subparsers.add_parser("clear", help="delete runtime data (asks first unless --yes)")
    clear.add_argument("--sessions", action="store_true", help="chat sessions and their checkpoints")
    for flag, folder in _FOLDERS.items():
        clear.add_argument(f"--{flag}", action="store_true", help=f"everything under DATA_DIR/{folder}/")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    clear.set_defaults(func=_clear)


_DBCommand = Callable[[argparse.Namespace, Database], Coroutine[Any, Any, int]]


def _sync(fn: _DBCommand) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_with_db(fn, args, get_settings()))

    return run


async def _with_db(fn: _DBCommand, args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings)
    try:
        # The schema only (migrated, as the apps do): no default admin behind the operator's back.
        await migrate(db.engine)
        return await fn(args, db)
    finally:
        await db.close()


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            log.error("the passwords differ")
            return None
    try:
        return accounts.check_password(password)
    except ValueError as exc:
        log.error("%s", exc)
        return None


async def _user_add(args: argparse.Namespace, db: Database) -> int:
    try:
        accounts.check_username(args.username)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    password = _read_password(args)
    if password is None:
        return 2
    async with db.session() as session:
        try:
            user = await accounts.create_user(session, args.username, password, role=args.role)
        except accounts.UsernameTaken:
            log.error("username %r is taken", args.username)
            return 1
    log.info("created %s %r (id %s)", user.role, user.username, user.id)
    return 0


async def _user_list(args: argparse.Namespace, db: Database) -> int:
    async with db.session() as session:
        users = (await session.exec(select(User).order_by(User.username))).all()
    _out(f"{'username':<24} {'role':<6} {'status':<9} {'id':<32} created")
    for u in users:
        status = "disabled" if u.disabled else "active"
        _out(f"{u.username:<24} {u.role:<6} {status:<9} {u.id:<32} {u.created_at:%Y-%m-%d %H:%M}")
    return 0


async def _named(session: Any, username: str) -> User | None:
    user = await accounts.find_user(session, username)
    if user is None:
        log.error("no user %r", username)
    return user


async def _user_passwd(args: argparse.Namespace, db: Database) -> int:
    async with db.session() as session:
        user = await _named(session, args.username)
        if user is None:
            return 1
        password = _read_password(args)
        if password is None:
            return 2
        await accounts.update_user(session, user, password=password)
    log.info("password of %r changed; their existing tokens no longer work", args.username)
    return 0


async def _user_disable(args: argparse.Namespace, db: Database) -> int:
    async with db.session() as session:
        user = await _named(session, args.username)
        if user is None:
            return 1
        if not args.enable and await accounts.is_last_admin(session, user):
            log.error(
                "%r is the last enabled admin: add another admin first (llm-api user add NAME --role admin)",
                args.username,
            )
            return 1
        await accounts.update_user(session, user, disabled=not args.enable)
    log.info("%s %r", "enabled" if args.enable else "disabled", args.username)
    return 0


# -- clear ------------------------------------------------------------------------------


def _clear(args: argparse.Namespace) -> int:
    settings = get_settings()
    chosen = [name for name in ("sessions", *_FOLDERS) if getattr(args, name)]
    if not chosen:
        log.error("nothing chosen: give one or more of --sessions --uploads --scratch --rag --logs")
        return 2
    targets = [
        "chat sessions (database rows and checkpoints)" if n == "sessions" else str(settings.data_dir / _FOLDERS[n])
        for n in chosen
    ]
    if not args.yes:
        _out("This permanently deletes:\n" + "\n".join(f"  - {t}" for t in targets))
        sys.stdout.write("Type 'yes' to continue: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() != "yes":
            log.info("nothing deleted")
            return 1
    if "sessions" in chosen:
        count = asyncio.run(_clear_sessions(settings))
        log.info("deleted %d session(s) and their checkpoints", count)
    for name in chosen:
        if name in _FOLDERS:
            removed = _empty_folder(settings.data_dir / _FOLDERS[name])
            log.info("emptied %s (%d entries)", settings.data_dir / _FOLDERS[name], removed)
    return 0


async def _clear_sessions(settings: Settings) -> int:
    from app.services.checkpoints import open_checkpointer

    async with open_checkpointer(settings.checkpoint_db_url) as saver:
        threads = {item.config["configurable"]["thread_id"] async for item in saver.alist(None)}
        for thread in threads:
            await saver.adelete_thread(thread)

    async def rows(args: argparse.Namespace, db: Database) -> int:
        async with db.session() as session:
            count = len((await session.exec(select(ChatSession))).all())
            await session.exec(delete(ChatSession))  # type: ignore[call-overload]
            await session.commit()
        return count

    return await _with_db(rows, argparse.Namespace(), settings)


def _empty_folder(folder: Path) -> int:
    """Delete what is inside `folder`, keep the folder itself (the apps expect it)."""
    if not folder.is_dir():
        return 0
    entries = list(folder.iterdir())
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return len(entries)
