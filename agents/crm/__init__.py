"""The CRM agent: customers, deals through the pipeline, and contact activity.

Every write is reversible and records exactly what its compensation needs: adding a customer is
taken back by removing it (or, once something refers to it, by marking it past); an update records the
previous values of the fields it changed, and undo restores exactly those; a stage move restores the
previous stage. Deal values are not money moved, so they carry no ``amount_cents`` (a payment limit
would wrongly refuse a large deal).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, select

from agents.contract import AgentPrompt, ExecContext, Operation, Outcome, SideEffect
from agents.crm.lookup import resolve_customer, source_of
from agents.crm.rules import CRM_RULES
from agents.crm.schemas import (
    ActivityArgs,
    CustomerArgs,
    CustomerOut,
    DealArgs,
    FindArgs,
    MoveArgs,
    NoArgs,
    UpdateArgs,
)
from agents.errors import Missing, Refusal
from agents.money import cents, fmt
from agents.phrasings import Phrasing, phrasing
from agents.spec import AgentSpec, Deps, HelpEntry
from memory import crm, workspace
from memory.crm import Activity, Deal
from memory.tables import utcnow
from memory.workspace import Customer

AGENT = "crm"
PROMPT_VERSION = "crm-1"
PROMPT = """The CRM holds the operator's customers, their deals (lead → qualified → proposal → won/lost)
and what happened with each (emails, calls, notes). Look a customer up before you write about one;
refer to customers by their number when several share a name."""
AGENT_PROMPT = AgentPrompt(AGENT, PROMPT_VERSION, PROMPT)


def _payload(**values: Any) -> dict[str, Any]:
    return {"prompt_version": PROMPT_VERSION, **values}


def _no_duplicate_email(session: Session, email: str, other_than: int | None = None) -> None:
    existing = crm.customer_by_email(session, email)
    if existing is not None and existing.id != other_than:
        raise Refusal(f"customer #{existing.id} {existing.name} already has the email {email}")


def _add_customer(ctx: ExecContext, args: CustomerArgs) -> Outcome:
    _no_duplicate_email(ctx.session, args.email)
    c = Customer(**args.model_dump())
    ctx.session.add(c)
    ctx.session.flush()
    return Outcome(
        text=f"Added {workspace.describe_customer(c)}.",
        payload=_payload(customer=CustomerOut.of(c).model_dump()),
        compensation={"customer_id": c.id},
    )


def _remove_customer(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    c = _customer(ctx.session, int(payload["customer_id"]))
    if crm.is_referenced(ctx.session, int(payload["customer_id"])):
        c.status, c.updated_at = "past", utcnow()
        ctx.session.add(c)
        return Outcome(
            text=f"Customer #{c.id} {c.name} has deals or history, so it was kept and marked past.",
            payload={"customer_id": c.id, "status": "past"},
        )
    ctx.session.delete(c)
    return Outcome(text=f"Removed customer #{c.id} {c.name}.", payload={"customer_id": c.id, "removed": True})


def _update_customer(ctx: ExecContext, args: UpdateArgs) -> Outcome:
    c = _customer(ctx.session, args.customer_id)
    if args.email:
        _no_duplicate_email(ctx.session, args.email, other_than=c.id)
    previous = {f: getattr(c, f) for f, v in args.changes().items() if getattr(c, f) != v}
    for f in previous:
        setattr(c, f, getattr(args, f))
    c.updated_at = utcnow()
    ctx.session.add(c)
    changed = ", ".join(f"{f} {previous[f]!r} → {getattr(c, f)!r}" for f in previous) or "nothing changed"
    return Outcome(
        text=f"Updated customer #{c.id} {c.name}: {changed}.",
        payload=_payload(customer_id=c.id, previous=previous, new={f: getattr(c, f) for f in previous}),
        compensation={"customer_id": c.id, "previous": previous},
    )


def _restore_customer(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    c = _customer(ctx.session, int(payload["customer_id"]))
    previous: dict[str, Any] = payload["previous"]
    for f, v in previous.items():
        setattr(c, f, v)
    c.updated_at = utcnow()
    ctx.session.add(c)
    restored = ", ".join(f"{f} {v!r}" for f, v in previous.items()) or "nothing to restore"
    return Outcome(text=f"Restored customer #{c.id}: {restored}.", payload={"customer_id": c.id, **previous})


def _add_deal(ctx: ExecContext, args: DealArgs) -> Outcome:
    c = resolve_customer(ctx.session, args.customer)
    assert c.id is not None
    deal = Deal(
        customer_id=c.id,
        title=args.title,
        value_cents=cents(args.value),
        stage=args.stage,
        idempotency_key=ctx.idempotency_key,
    )
    ctx.session.add(deal)
    ctx.session.flush()
    return Outcome(
        text=f"Added deal #{deal.id} {deal.title} for {c.name}: {fmt(deal.value_cents)}, {deal.stage}.",
        payload=_payload(deal_id=deal.id, customer_id=c.id, value_cents=deal.value_cents, stage=deal.stage),
        compensation={"deal_id": deal.id},
    )


def _remove_deal(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    deal = _deal(ctx.session, int(payload["deal_id"]))
    if ctx.session.exec(select(Activity).where(Activity.deal_id == deal.id).limit(1)).first() is not None:
        deal.stage, deal.updated_at = "lost", utcnow()
        ctx.session.add(deal)
        return Outcome(text=f"Deal #{deal.id} has activity, so it was kept and marked lost.", payload={})
    ctx.session.delete(deal)
    return Outcome(text=f"Removed deal #{deal.id} {deal.title}.", payload={"deal_id": deal.id})


def _move_deal(ctx: ExecContext, args: MoveArgs) -> Outcome:
    deal = _deal(ctx.session, args.deal_id)
    previous = deal.stage
    deal.stage, deal.updated_at = args.stage, utcnow()
    ctx.session.add(deal)
    return Outcome(
        text=f"Deal #{deal.id} {deal.title}: {previous} → {deal.stage}.",
        payload=_payload(deal_id=deal.id, previous=previous, stage=deal.stage),
        compensation={"deal_id": deal.id, "previous": previous},
    )


def _restore_stage(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    deal = _deal(ctx.session, int(payload["deal_id"]))
    now = deal.stage
    deal.stage, deal.updated_at = payload["previous"], utcnow()
    ctx.session.add(deal)
    return Outcome(text=f"Deal #{deal.id} {deal.title}: back from {now} to {deal.stage}.", payload={})


def _log_activity(ctx: ExecContext, args: ActivityArgs) -> Outcome:
    c = resolve_customer(ctx.session, args.customer)
    assert c.id is not None
    if args.deal_id is not None and _deal(ctx.session, args.deal_id).customer_id != c.id:
        raise Refusal(f"deal #{args.deal_id} is not {c.name}'s")
    row = Activity(
        customer_id=c.id,
        deal_id=args.deal_id,
        kind=args.kind,
        text=args.text,
        source=source_of(ctx),
        idempotency_key=ctx.idempotency_key,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return Outcome(
        text=f"Logged {args.kind} #{row.id} with {c.name}: {args.text[:200]}",
        payload=_payload(activity_id=row.id, customer_id=c.id),
        compensation={"activity_id": row.id},
    )


def _unlog_activity(ctx: ExecContext, payload: dict[str, Any]) -> Outcome:
    row = ctx.session.get(Activity, int(payload["activity_id"]))
    if row is None:
        raise Missing(f"activity {payload['activity_id']} not found")
    ctx.session.delete(row)
    return Outcome(text=f"Removed activity #{row.id}.", payload={"activity_id": row.id})


def _find(ctx: ExecContext, args: FindArgs) -> Outcome:
    q = args.query.strip().lstrip("#")
    found = (
        [c for c in [ctx.session.get(Customer, int(q))] if c is not None]
        if q.isdigit()
        else workspace.find_customers(ctx.session, args.query, 5)
    )
    if not found:
        return Outcome(text=f"No customer matches {args.query!r}.", payload={"customers": []})
    lines = [workspace.describe_customer(c) for c in found]
    if len(found) == 1 and found[0].id is not None:
        lines += [
            f"  {a.at:%Y-%m-%d} {a.kind}: {a.text[:120]}" for a in crm.activities(ctx.session, found[0].id, 5)
        ]
    return Outcome(
        text="\n".join(lines), payload={"customers": [CustomerOut.of(c).model_dump() for c in found]}
    )


def _list(ctx: ExecContext, _args: NoArgs) -> Outcome:
    rows = crm.list_customers(ctx.session)
    if not rows:
        return Outcome(text="No customers yet.", payload={"customers": []})
    lines = "\n".join(workspace.describe_customer(c) for c in rows)
    return Outcome(text=f"Customers:\n{lines}", payload={"customers": [c.id for c in rows]})


def _pipeline(ctx: ExecContext, _args: NoArgs) -> Outcome:
    stages = crm.pipeline(ctx.session)
    lines = []
    for st in stages:
        lines.append(f"{st.stage}: {len(st.deals)} deal(s), {fmt(st.total_cents)}")
        lines += [f"  #{d.id} {d.title} {fmt(d.value_cents)}" for d in st.deals]
    open_total = sum(st.total_cents for st in stages if st.stage in crm.OPEN_STAGES)
    lines.append(f"Open pipeline: {fmt(open_total)}")
    return Outcome(
        text="Pipeline:\n" + "\n".join(lines),
        payload={"totals": {st.stage: st.total_cents for st in stages}, "open_cents": open_total},
    )


def _customer(session: Session, customer_id: int) -> Customer:
    c = session.get(Customer, customer_id)
    if c is None:
        raise Missing(f"there is no customer #{customer_id}")
    return c


def _deal(session: Session, deal_id: int) -> Deal:
    d = session.get(Deal, deal_id)
    if d is None:
        raise Missing(f"there is no deal #{deal_id}")
    return d


def _op(name: str, description: str, args: type[BaseModel], effect: SideEffect, **kw: Any) -> Operation[Any]:
    return Operation(agent=AGENT, name=name, description=description, args=args, side_effect=effect, **kw)


W, R = SideEffect.REVERSIBLE, SideEffect.READ
OPERATIONS: list[Operation[Any]] = [
    _op(
        "add_customer",
        "Add a customer (a contact the operator sells to).",
        CustomerArgs,
        W,
        summarize=lambda a: f"Add customer {a.name}" + (f" <{a.email}>" if a.email else ""),
        changes=lambda a: f"CRM: one new customer {a.name}" + (f" ({a.company})" if a.company else ""),
        execute=_add_customer,
        compensate=_remove_customer,
    ),
    _op(
        "update_customer",
        "Change fields of a customer (only the fields given change).",
        UpdateArgs,
        W,
        summarize=lambda a: f"Update customer #{a.customer_id}",
        changes=lambda a: (
            f"CRM: customer #{a.customer_id} " + ", ".join(f"{f} → {v!r}" for f, v in a.changes().items())
        ),
        execute=_update_customer,
        compensate=_restore_customer,
    ),
    _op(
        "add_deal",
        "Add a deal for a customer, at a stage of the pipeline (default lead).",
        DealArgs,
        W,
        summarize=lambda a: f"Add deal {a.title!r} for {a.customer}: {fmt(cents(a.value))}",
        changes=lambda a: f"CRM: one new deal at {a.stage}, {fmt(cents(a.value))}",
        execute=_add_deal,
        compensate=_remove_deal,
    ),
    _op(
        "move_deal",
        "Move a deal to another stage (lead, qualified, proposal, won, lost).",
        MoveArgs,
        W,
        summarize=lambda a: f"Move deal #{a.deal_id} to {a.stage}",
        changes=lambda a: f"CRM: deal #{a.deal_id}'s stage becomes {a.stage}",
        execute=_move_deal,
        compensate=_restore_stage,
    ),
    _op(
        "log_activity",
        "Log something that happened with a customer (a call, an email, a note).",
        ActivityArgs,
        W,
        summarize=lambda a: f"Log a {a.kind} with {a.customer}",
        changes=lambda a: f"CRM: one {a.kind} in {a.customer}'s activity",
        execute=_log_activity,
        compensate=_unlog_activity,
    ),
    _op(
        "find_customer",
        "Show a customer (by number) and recent activity, or find customers by name, company or email.",
        FindArgs,
        R,
        summarize=lambda a: f"Find customer {a.query!r}",
        changes=lambda a: "nothing",
        execute=_find,
    ),
    _op(
        "list_customers",
        "List the customers.",
        NoArgs,
        R,
        summarize=lambda a: "List customers",
        changes=lambda a: "nothing",
        execute=_list,
    ),
    _op(
        "pipeline",
        "Show the deals by stage with their totals.",
        NoArgs,
        R,
        summarize=lambda a: "Show the pipeline",
        changes=lambda a: "nothing",
        execute=_pipeline,
    ),
]


HELP: tuple[HelpEntry, ...] = (
    HelpEntry(
        "customer add <name> <email> [company]",
        "add a customer (asks first)",
        ("customer add Bob <bob@bob.io> Bob Inc",),
    ),
    HelpEntry("customers", "list the customers", ("customers",)),
    HelpEntry("customer <number or name>", "show a customer", ("customer Bob",)),
    HelpEntry(
        "customer <n> <name|company|email|status|notes> <value>",
        "change one field (asks first)",
        ("customer 1 status active",),
    ),
    HelpEntry("deal <customer> <amount> <title>", "add a deal (asks first)", ("deal Bob 5000 website",)),
    HelpEntry("deal <n> <lead|qualified|proposal|won|lost>", "move a deal (asks first)", ("deal 1 won",)),
    HelpEntry("pipeline", "the deals by stage", ("pipeline", "deals")),
    HelpEntry(
        "log <call|email|note> <customer>: <text>",
        "record contact activity (asks first)",
        ("log call Bob: wants a quote",),
    ),
)

PHRASINGS: tuple[Phrasing, ...] = (
    phrasing(
        "crm.list_customers",
        "customers",
        "read",
        ("show my customers", "list all clients", "who are my clients", "customer list"),
        words="customers clients",
    ),
    phrasing(
        "crm.add_customer",
        "customer add {name} <{email}>",
        "write",
        (
            "add a customer Bob Smith bob@smith.io",
            "new client Jordan jordan@example.org",
            "add Chris chris@example.net as a customer",
        ),
        "add a new customer client as",
        words="customer client",
    ),
    phrasing(
        "crm.pipeline",
        "pipeline",
        "read",
        ("show the pipeline", "how are my deals going", "which deals are open", "sales pipeline"),
        words="pipeline deals",
    ),
)


def spec(deps: Deps, config: None = None) -> AgentSpec:
    """Return the CRM agent: customers, deals and their activity."""
    return AgentSpec(
        name=AGENT,
        operations=tuple(OPERATIONS),
        rules=CRM_RULES,
        help=HELP,
        phrasings=PHRASINGS,
        prompt=AGENT_PROMPT,
    )
