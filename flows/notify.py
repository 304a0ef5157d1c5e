"""Telling people on the kintone record: comments that mention them, said once.

Staff read these, so the text is business Japanese naming fields by their Japanese labels.
``post`` is the one place a flow posts a comment: one that mentions people waits for working
time (quiet hours, flows/held_messages.py) however it was caused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from connectors.kintone.interface import Mention
from flows import held_messages
from mappings import AppMapping, User

# How long we remember that a message was posted (so an unchanged record is not nagged).
REMEMBER_SECONDS = 90 * 24 * 3600
# How long an unfinished post is looked for after a crash (longer than all job retries).
SENDING_SECONDS = 7 * 24 * 3600


def mentions_for(users: Iterable[User] | None) -> list[Mention]:
    seen, out = set(), []
    for user in users or []:
        if user.code and user.code not in seen:
            seen.add(user.code)
            out.append(Mention(code=user.code))
    return out[:10]  # kintone accepts at most 10 mentions


def tell(ctx, mapping: AppMapping, record_id: str, text: str, users: Iterable[User] | None = None,
         *, once_as: str | None = None, same_as: str | None = None) -> bool:
    """Post ``text`` on the record, mentioning ``users``.

    With ``once_as``, the same message (same key and text) is posted only once per record;
    returns False when it had been posted already. The ledger notes "sending" before the post
    and "done" after it. A run that finds "sending" without "done" follows one that died in
    between (worker killed, answer lost): it looks at the record's newest comments and posts
    only if the message is not there, so a crash neither repeats nor loses it. That look costs
    one kintone call, and only on that recovery path.

    ``same_as`` says what makes two messages the same when their wording may differ (e.g. the
    list of missing items, not the sentence around it); by default it is the text itself.
    """
    same = text if same_as is None else same_as
    if once_as is None:
        post(ctx, mapping, record_id, text, users, key=f"said:{mapping.key}:{record_id}:{_digest(same)}")
        return True
    key = once_key(mapping, record_id, once_as, same)
    if _posted(ctx, key, mapping.id, record_id, text):
        return False
    ctx.ledger.mark(key + ":sending", SENDING_SECONDS)
    post(ctx, mapping, record_id, text, users, key=key)
    ctx.ledger.mark(key, REMEMBER_SECONDS)
    return True


def posted_before(ctx, mapping: AppMapping, record_id: str, text: str, *, once_as: str,
                  same_as: str | None = None) -> bool:
    """Whether ``tell(..., once_as=once_as, same_as=same_as)`` of ``text`` on this record was posted:
    remembered as done, or begun ("sending") and found among the record's newest comments (a crash
    between the post and the mark; then remembered as done). The look costs one kintone call, and
    only on that recovery path."""
    key = once_key(mapping, record_id, once_as, same_as if same_as is not None else text)
    return _posted(ctx, key, mapping.id, record_id, text)


def _posted(ctx, key: str, app: str, record_id: str, text: str) -> bool:
    if ctx.ledger.done(key):
        return True
    if ctx.ledger.done(key + ":sending") and already_posted(ctx, app, record_id, text):
        ctx.ledger.mark(key, REMEMBER_SECONDS)
        return True
    return False


def _digest(same: str) -> str:
    return hashlib.sha256(same.encode()).hexdigest()[:16]


def once_key(mapping: AppMapping, record_id: str, once_as: str, same: str) -> str:
    """The ledger key ``tell`` remembers a message under (``same``: its ``same_as``, else its text)."""
    return f"told:{mapping.key}:{record_id}:{once_as}:{_digest(same)}"


def told_before(ctx, mapping: AppMapping, record_id: str, once_as: str, *, same_as: str) -> bool:
    """Whether ``tell(..., once_as=once_as, same_as=same_as)`` on this record was said already."""
    return ctx.ledger.done(once_key(mapping, record_id, once_as, same_as))


def mark_told(ctx, mapping: AppMapping, record_id: str, once_as: str, *, same_as: str) -> None:
    """Remember that message as said on this record (by a notice posted elsewhere that covers it), so
    ``tell`` with the same ``once_as`` and ``same_as`` does not post it."""
    ctx.ledger.mark(once_key(mapping, record_id, once_as, same_as), REMEMBER_SECONDS)


def post(ctx, mapping: AppMapping, record_id: str, text: str, users: Iterable[User] | None, *, key: str) -> None:
    """Post the comment now, or, when it mentions people outside working time, hold it for the
    next business morning under ``key`` (a re-run holds it once; flows/held_messages.py)."""
    mentions = mentions_for(users)
    if mentions and not ctx.calendar.is_working_time(ctx.now()):
        held_messages.hold(ctx, key, mapping.id, record_id, text, mentions)
        return
    ctx.kintone.add_comment(mapping.id, record_id, text, mentions)


def already_posted(ctx, app: str, record_id: str, text: str) -> bool:
    # kintone puts the mentioned names in front of the text it returns; compare the body.
    wanted = " ".join(text.split())
    return any(wanted in " ".join(c.text.split()) for c in ctx.kintone.get_comments(app, record_id))


def bullet_list(lines: Iterable[str]) -> str:
    return "\n".join(f"・{line}" for line in lines)
