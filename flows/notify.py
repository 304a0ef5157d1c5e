"""Telling people on the kintone record: comments that mention them, said once.

Staff read these, so the text is business Japanese naming fields by their Japanese labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from connectors.kintone.interface import Mention
from mappings import AppMapping, User

# How long we remember that a message was posted (so an unchanged record is not nagged).
REMEMBER_SECONDS = 90 * 24 * 3600


def mentions_for(users: Iterable[User] | None) -> list[Mention]:
    seen, out = set(), []
    for user in users or []:
        if user.code and user.code not in seen:
            seen.add(user.code)
            out.append(Mention(code=user.code))
    return out[:10]  # kintone accepts at most 10 mentions


def tell(ctx, mapping: AppMapping, record_id: str, text: str, users: Iterable[User] | None = None,
         *, once_as: str | None = None) -> bool:
    """Post ``text`` on the record, mentioning ``users``.

    With ``once_as``, the same message (same key and text) is posted only once per record;
    returns False when it had been posted already. We post first and remember after, so a
    crash in between repeats a message rather than losing it.
    """
    key = None
    if once_as is not None:
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        key = f"told:{mapping.key}:{record_id}:{once_as}:{digest}"
        if ctx.ledger.done(key):
            return False
    ctx.kintone.add_comment(mapping.id, record_id, text, mentions_for(users))
    if key:
        ctx.ledger.mark(key, REMEMBER_SECONDS)
    return True


def bullet_list(lines: Iterable[str]) -> str:
    return "\n".join(f"・{line}" for line in lines)
