"""Deadline rules and the supervisor directory, loaded from ``deadlines.toml`` in a mapping folder.

A rule says, as data: which app, which records (``where``), when the clock starts (``start``),
how long they have (``limit``, in business days or business hours), what "done" means
(``done_when``: every condition holds), who is responsible and what the comments say. The
sweep (``flows/deadlines.py``) turns a rule into one kintone query and its reminders.

Conditions name domain fields of the app's mapping; ``in``/``not_in`` values of a STATUS field
are status keys of the mapping, as in ``[[triggers]]``. Everything is checked against the app
mappings when the folder is loaded, so a typo stops the process at start, not at 9:00 on Monday.
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from mappings.app import AppMapping, Mappings

FILE_NAME = "deadlines.toml"
DATE_TYPES = {"DATE"}
DATETIME_TYPES = {"DATETIME", "CREATED_TIME", "UPDATED_TIME"}
USER_FIELD_TYPES = {"USER_SELECT", "STATUS_ASSIGNEE", "CREATOR", "MODIFIER"}
# How kintone's query language tests a field for emptiness, by field type ("is empty" works
# only on multi-line text and files; user and check-box fields have no documented test).
EMPTY_BY_IS = {"MULTI_LINE_TEXT", "RICH_TEXT", "FILE"}
EMPTY_BY_IN = {"DROP_DOWN", "RADIO_BUTTON"}  # in ("")
EMPTY_BY_EQUALS = {"SINGLE_LINE_TEXT", "LINK", "NUMBER", "DATE", "DATETIME", "TIME"}  # = ""


class Span(BaseModel):
    """A length of time in business days (whole days), business hours (hours of business days) or
    calendar months (whole days; "three months before the 抵触日")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    business_days: int | None = Field(default=None, ge=-60, le=60)
    business_hours: int | None = Field(default=None, ge=0, le=24 * 60)
    months: int | None = Field(default=None, ge=-3, le=3)

    @model_validator(mode="after")
    def _exactly_one(self) -> "Span":
        if sum(x is not None for x in (self.business_days, self.business_hours, self.months)) != 1:
            raise ValueError("give exactly one of business_days, business_hours or months")
        return self

    @property
    def unit(self) -> Literal["business_days", "business_hours", "months"]:
        if self.business_days is not None:
            return "business_days"
        return "business_hours" if self.business_hours is not None else "months"

    @property
    def amount(self) -> int:
        return next(x for x in (self.business_days, self.business_hours, self.months) if x is not None)


class Condition(BaseModel):
    """One test on a field: ``filled``, ``in`` or ``not_in`` (exactly one)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    field: str
    filled: bool | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Condition":
        given = [x for x in (self.filled, self.in_, self.not_in) if x is not None]
        if len(given) != 1:
            raise ValueError(f"condition on {self.field!r}: give exactly one of filled, in, not_in")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # stable: part of the "already reminded" memory
    app: str  # app key
    subject: str  # what a record is, in Japanese: "HPからのお問い合わせ"
    task: str  # what is due, in Japanese: "初回連絡"
    title: str | None = None  # field that names the record in comments (else its record number)
    start: str  # DATE or DATETIME field where the clock starts
    limit: Span  # due this long after start (negative business days: before it)
    remind_before: Span | None = None  # first reminder this long before the due time (default: on the due day)
    where: list[Condition] = Field(default_factory=list)  # which records the rule covers
    done_when: list[Condition]  # done when every condition holds
    responsible: str  # USER_SELECT field: who is reminded
    supervisor: str | None = None  # USER_SELECT field with the 上長; else the directory
    escalate: bool = True  # past the limit, tell the supervisor too
    reason_field: str | None = None  # past the limit, ask for a reason here; report it when written
    list_missing: bool = False  # name the unfilled ``done_when`` fields in the comments
    remind_text: str  # what to do next, in Japanese; {field} is replaced by the field's label
    overdue_text: str
    give_up_after_days: int = Field(default=60, ge=1, le=365)  # records that started earlier are left alone
    # Remind only the latest record of each group (e.g. the current contract of a work site: renewals
    # share its 抵触日): records with the same values of these fields, the one with the greatest latest_by.
    latest_per: list[str] = Field(default_factory=list)
    latest_by: str | None = None
    # A sweep that finds at least this many records of the rule due at one level (reminder or overdue)
    # for the same people posts one comment (a digest) on the first of them instead of one on each;
    # each record is remembered as told all the same. None: one comment per record.
    digest_from: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _consistent(self) -> "Rule":
        if not self.done_when:
            raise ValueError(f"rule {self.name!r}: done_when needs at least one condition")
        before = self.remind_before
        if before is not None:
            whole_days = {"business_days", "months"}
            if before.unit != self.limit.unit and not {before.unit, self.limit.unit} <= whole_days:
                raise ValueError(f"rule {self.name!r}: remind_before must use the unit of limit ({self.limit.unit})")
            if before.amount < 0:
                raise ValueError(f"rule {self.name!r}: remind_before cannot be negative")
        if bool(self.latest_per) != bool(self.latest_by):
            raise ValueError(f"rule {self.name!r}: latest_per and latest_by go together")
        if self.digest_from is not None and self.list_missing:
            raise ValueError(f"rule {self.name!r}: digest_from cannot go with list_missing "
                             "(each record's missing items are listed on that record)")
        if self.limit.unit == "business_hours" and self.limit.amount - self.remind_amount < 0:
            raise ValueError(f"rule {self.name!r}: a reminder cannot come before the start")
        return self

    @property
    def remind_amount(self) -> int:
        return self.remind_before.amount if self.remind_before else 0

    def field_names(self) -> list[str]:
        """Every domain field the rule reads, in a stable order."""
        names = [self.start, self.responsible, self.supervisor, self.title, self.reason_field, self.latest_by]
        names += [c.field for c in (*self.where, *self.done_when)] + self.latest_per
        out: list[str] = []
        for name in names:
            if name and name not in out:
                out.append(name)
        return out


def choice_values(mapping: "AppMapping", cond: Condition) -> list[str]:
    """The values an ``in``/``not_in`` condition names, a STATUS field's keys as the app's status names."""
    values = cond.in_ if cond.in_ is not None else cond.not_in or []
    if mapping.field(cond.field).type == "STATUS":
        return [mapping.status_name(key) for key in values]
    return list(values)


class Supervisors(BaseModel):
    """Who tells whom: kintone login names. Used when a record has no 上長 field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: str = ""  # told when nobody else is known (e.g. the sales manager who assigns reps)
    of: dict[str, str] = Field(default_factory=dict)  # staff login name -> supervisor login name

    def for_user(self, code: str | None) -> str | None:
        if code and self.of.get(code):
            return self.of[code]
        return self.default or None


class DeadlineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    supervisors: Supervisors = Field(default_factory=Supervisors)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> "DeadlineConfig":
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("two deadline rules have the same name")
        return self


def check_rule(rule: Rule, apps: "Mappings") -> list[str]:
    """Problems of one rule against the app mappings (empty when it fits)."""
    if rule.app not in apps:
        return [f"rule {rule.name!r}: no mapping for app {rule.app!r}"]
    mapping: AppMapping = apps[rule.app]
    problems = [f"rule {rule.name!r}: app {rule.app!r} has no field {name!r}"
                for name in rule.field_names() if name not in mapping.fields]
    if problems:
        return problems
    start_type = mapping.fields[rule.start].type
    if start_type not in DATE_TYPES | DATETIME_TYPES:
        problems.append(f"rule {rule.name!r}: start field {rule.start!r} is {start_type}, not a date or datetime")
    for name in (rule.responsible, rule.supervisor):
        if name and mapping.fields[name].type not in USER_FIELD_TYPES:
            problems.append(f"rule {rule.name!r}: {name!r} must be a user field")
    for cond in (*rule.where, *rule.done_when):
        ftype = mapping.fields[cond.field].type
        if cond.filled is not None and ftype not in EMPTY_BY_IS | EMPTY_BY_IN | EMPTY_BY_EQUALS:
            problems.append(f"rule {rule.name!r}: cannot test the {ftype} field {cond.field!r} for emptiness")
        if ftype == "STATUS":
            for key in (cond.in_ or cond.not_in or []):
                if not mapping.process or key not in mapping.process.statuses:
                    problems.append(f"rule {rule.name!r}: app {rule.app!r} has no status {key!r}")
    for text in (rule.remind_text, rule.overdue_text):
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None and name not in mapping.fields:
                problems.append(f"rule {rule.name!r}: text names unknown field {{{name}}}")
    return problems


def load_deadlines(path: Path, apps: "Mappings") -> DeadlineConfig:
    """Read ``deadlines.toml`` and check every rule against the app mappings."""
    from mappings.app import MappingError

    try:
        config = DeadlineConfig.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path.name}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{path.name}: {problems}") from exc
    problems = [p for rule in config.rules for p in check_rule(rule, apps)]
    if problems:
        raise MappingError(f"{path.name}: " + "; ".join(problems))
    return config
