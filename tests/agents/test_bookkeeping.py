"""The double-entry books: balanced writes, invoice numbers, voids, payments, the monthly summary."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, select

from agents.bookkeeping.ledger_summary import render, summarize
from agents.errors import NotReversible
from bot.console import ConsoleSession
from graph.policy import Policy
from memory import invoices, ledger
from memory.db import make_engine, transaction
from memory.errors import UnbalancedEntry, UnknownAccount
from memory.invoices import Invoice
from memory.tables import LedgerEntry
from tests.agents.books import books_engine, run, state, undo


def test_expense_category_from_tag_or_words():
    assert ledger.expense_account("coffee with Dana") == "expenses:meals"
    assert ledger.expense_account("flight to Lisbon") == "expenses:travel"
    assert ledger.expense_account("GitHub seats") == "expenses:software"
    assert ledger.expense_account("coffee machine #other") == "expenses:other"
    assert ledger.expense_account("printer ink") == "expenses:other"


def test_unbalanced_and_malformed_entries_are_refused(tmp_path):
    with books_engine(tmp_path, None) as engine:
        bad = [
            [ledger.dr(ledger.CASH, 100), ledger.cr(ledger.REVENUE, 99)],
            [ledger.dr(ledger.CASH, 100)],
            [ledger.dr(ledger.CASH, -5), ledger.cr(ledger.REVENUE, -5)],
            [ledger.Line(ledger.CASH, 5, 5), ledger.Line(ledger.REVENUE, 5, 5)],
        ]
        for lines in bad:
            with pytest.raises(UnbalancedEntry), transaction(engine) as s:
                ledger.post_entry(s, kind="income", memo="x", lines=lines, idempotency_key="k")
        with pytest.raises(UnknownAccount), transaction(engine) as s:
            lines = [ledger.dr("cash", 1), ledger.cr("petty", 1)]
            ledger.post_entry(s, kind="income", memo="x", lines=lines, idempotency_key="k")
        with Session(engine) as s:
            assert s.exec(select(LedgerEntry)).all() == []
            assert s.exec(select(ledger.JournalLine)).all() == []


def test_lines_written_around_post_entry_are_refused_too(tmp_path):
    with books_engine(tmp_path, None) as engine:
        run(engine, "record_income", {"amount": "10", "memo": "tip"})
        with pytest.raises(UnbalancedEntry, match="already has its lines"), transaction(engine) as s:
            s.add(ledger.JournalLine(entry_id=1, account=ledger.CASH, debit_cents=1))
        with transaction(engine) as s:
            entry = LedgerEntry(kind="income", amount_cents=5, memo="x", idempotency_key="raw")
            s.add(entry)
            s.flush()
            with pytest.raises(UnbalancedEntry, match="debits 5 != credits 4"):
                s.add(ledger.JournalLine(entry_id=entry.id, account=ledger.CASH, debit_cents=5))
                s.add(ledger.JournalLine(entry_id=entry.id, account=ledger.REVENUE, credit_cents=4))
                s.flush()
            s.rollback()
        with pytest.raises(UnbalancedEntry, match="append-only"), transaction(engine) as s:
            line = s.exec(select(ledger.JournalLine)).first()
            assert line is not None
            line.debit_cents = 999
            s.add(line)
            s.flush()
        with pytest.raises(UnbalancedEntry, match="append-only"), transaction(engine) as s:
            s.delete(s.exec(select(ledger.JournalLine)).first())
            s.flush()
        assert state(engine)["problems"] == []


def test_verify_ledger_finds_a_line_written_around_the_code(tmp_path):
    with books_engine(tmp_path, None) as engine:
        run(engine, "record_income", {"amount": "10", "memo": "tip"})
        assert state(engine)["problems"] == []
        with engine.begin() as conn:  # raw SQL, past every guard in the code
            conn.execute(
                text(
                    "INSERT INTO journalline (entry_id, account, debit_cents, credit_cents) VALUES (1, 'cash', 1, 0)"
                )
            )
        assert state(engine)["problems"] == [
            "entry #1: debits 1001 != credits 1000",
            "entry #1: header amount 1000 disagrees with its Cash lines",
            "total debits 1001 != total credits 1000",
        ]


_STEP = st.one_of(
    st.tuples(st.sampled_from(["expense", "income", "invoice"]), st.integers(1, 500_000)),
    st.tuples(st.sampled_from(["paid", "undo"]), st.integers(0, 30)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_STEP, max_size=14))
def test_every_write_keeps_the_ledger_balanced(tmp_path, steps):
    # One database for every example: each example checks its own change to Cash and receivables.
    engine = _shared_engine(tmp_path)
    before = state(engine)
    cash, ar = before["cash"], before["ar"]
    done: list[tuple[str, dict, int, int]] = []  # (operation, compensation, cash change, ar change)
    open_numbers: list[tuple[str, int]] = []
    undone: set[int] = set()
    for kind, n in steps:
        if kind in ("expense", "income"):
            amount = n * (-1 if kind == "expense" else 1)
            out = run(engine, f"record_{kind}", {"amount": f"{n / 100:.2f}", "memo": "lunch"})
            done.append((f"record_{kind}", out.compensation or {}, amount, 0))
            cash += amount
        elif kind == "invoice":
            out = run(engine, "create_invoice", {"customer": "Acme", "amount": f"{n / 100:.2f}"})
            done.append(("create_invoice", out.compensation or {}, 0, n))
            open_numbers.append((out.payload["number"], n))
            ar += n
        elif kind == "paid" and open_numbers:
            number, amount = open_numbers.pop(n % len(open_numbers))
            out = run(engine, "mark_paid", {"number": number})
            done.append(("mark_paid", out.compensation or {}, amount, -amount))
            cash, ar = cash + amount, ar - amount
        elif kind == "undo" and done and (n % len(done)) not in undone:
            i = n % len(done)
            name, comp, d_cash, d_ar = done[i]
            try:
                out = undo(engine, name, comp)
            except NotReversible:
                assert name == "create_invoice"  # only a paid invoice refuses to be voided
                continue
            undone.add(i)
            cash, ar = cash - d_cash, ar - d_ar
            if name == "mark_paid":
                open_numbers.append((out.payload["number"], out.payload["amount_cents"]))
            if name == "create_invoice":
                open_numbers = [x for x in open_numbers if x[0] != out.payload["number"]]
        after = state(engine)
        assert after["problems"] == []
        assert (after["cash"], after["ar"]) == (cash, ar)


_ENGINES: dict[str, object] = {}


def _shared_engine(tmp_path):
    if "e" not in _ENGINES:
        _ENGINES["e"] = make_engine(f"sqlite:///{tmp_path / 'prop.sqlite'}")
    return _ENGINES["e"]


@pytest.fixture(autouse=True)
def _dispose_shared():
    yield
    engine = _ENGINES.pop("e", None)
    if engine is not None:
        engine.dispose()  # type: ignore[attr-defined]


def test_invoice_numbers_are_gapless_and_unique_under_concurrent_creation(tmp_path, database_url):
    with books_engine(tmp_path, database_url) as engine:
        threads, each = 6, 5
        errors: list[BaseException] = []
        start = threading.Barrier(threads)

        def create(t: int) -> None:
            start.wait()
            try:
                for i in range(each):
                    run(engine, "create_invoice", {"customer": f"c{t}", "amount": "100", "memo": f"{i}"})
            except BaseException as exc:  # reported below, so a failure is not lost in the thread
                errors.append(exc)

        workers = [threading.Thread(target=create, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        year = datetime.now(UTC).year
        with Session(engine) as s:
            numbers = sorted(i.number for i in s.exec(select(Invoice)).all())
            assert numbers == [f"INV-{year}-{n:04d}" for n in range(1, threads * each + 1)]
            assert ledger.verify_ledger(s) == []
            assert ledger.account_balance(s, ledger.AR) == threads * each * 100_00


def test_a_rolled_back_invoice_gives_its_number_back(tmp_path):
    with books_engine(tmp_path, None) as engine:
        year = datetime.now(UTC).year
        with pytest.raises(RuntimeError), transaction(engine) as s:
            assert invoices.next_number(s, year)[1] == f"INV-{year}-0001"
            raise RuntimeError("the transaction fails after taking a number")
        out = run(engine, "create_invoice", {"customer": "Acme", "amount": "10"})
        assert out.payload["number"] == f"INV-{year}-0001"


def test_undo_of_an_invoice_voids_it_and_never_reuses_the_number(tmp_path):
    with books_engine(tmp_path, None) as engine:
        year = datetime.now(UTC).year
        first = run(engine, "create_invoice", {"customer": "Acme", "amount": "1200", "memo": "site"})
        assert first.text.startswith(f"Issued INV-{year}-0001 to Acme: $1,200.00 site, due ")
        voided = undo(engine, "create_invoice", first.compensation or {})
        assert voided.text == f"Voided INV-{year}-0001 (the number is not reused); reversed entry #1 with #2."
        second = run(engine, "create_invoice", {"customer": "Acme", "amount": "1000"})
        assert second.payload["number"] == f"INV-{year}-0002"
        st_ = state(engine)
        assert st_["invoices"] == {f"INV-{year}-0001": "void", f"INV-{year}-0002": "open"}
        assert (st_["ar"], st_["revenue"], st_["problems"]) == (1000_00, 1000_00, [])
        # A void invoice cannot be paid.
        with pytest.raises(ValueError, match="is void, not open"):
            run(engine, "mark_paid", {"number": f"INV-{year}-0001"})


def test_paid_then_undo_reopens_and_a_paid_invoice_cannot_be_voided(tmp_path):
    with books_engine(tmp_path, None) as engine:
        inv = run(engine, "create_invoice", {"customer": "Acme", "amount": "500"})
        number = inv.payload["number"]
        paid = run(engine, "mark_paid", {"number": number.lower()})
        assert paid.text == f"Marked {number} paid: $500.00 from Acme. Balance $500.00."
        assert state(engine)["invoices"][number] == "paid"
        with pytest.raises(ValueError, match="already paid"):
            run(engine, "mark_paid", {"number": number})
        with pytest.raises(NotReversible, match="undo the payment first"):
            undo(engine, "create_invoice", inv.compensation or {})
        reopened = undo(engine, "mark_paid", paid.compensation or {})
        assert reopened.text.startswith(f"Reopened {number}; reversed entry #2 with #3. Balance $0.00.")
        st_ = state(engine)
        assert (st_["invoices"][number], st_["cash"], st_["ar"], st_["problems"]) == ("open", 0, 500_00, [])
        # Paid again after the reopening: a new payment entry, and the books still balance.
        run(engine, "mark_paid", {"number": number})
        assert state(engine)["cash"] == 500_00


def _issue(s: Session, number_day: date, due: date, amount: int) -> Invoice:
    seq, number = invoices.next_number(s, number_day.year)
    at = datetime(number_day.year, number_day.month, number_day.day, 9, tzinfo=UTC)
    lines = [ledger.dr(ledger.AR, amount), ledger.cr(ledger.REVENUE, amount)]
    entry = ledger.post_entry(s, kind="invoice", memo=number, lines=lines, idempotency_key=number, at=at)
    inv = Invoice(
        number=number,
        year=number_day.year,
        seq=seq,
        customer="Acme",
        amount_cents=amount,
        issued_on=number_day,
        due_on=due,
        status="open",
        entry_id=entry.id,
        idempotency_key=number,
    )
    s.add(inv)
    s.flush()
    return inv


def _pay(s: Session, inv: Invoice, day: date) -> None:
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    lines = [ledger.dr(ledger.CASH, inv.amount_cents), ledger.cr(ledger.AR, inv.amount_cents)]
    entry = ledger.post_entry(
        s, kind="payment", memo="paid", lines=lines, idempotency_key=f"p{inv.id}", at=at
    )
    inv.status, inv.paid_entry_id = "paid", entry.id
    s.add(inv)


def test_monthly_summary_of_a_scripted_month(tmp_path, database_url):
    with books_engine(tmp_path, database_url) as engine, transaction(engine) as s:

        def post(day: int, month: int, kind: str, amount: int, memo: str) -> LedgerEntry:
            at = datetime(2026, month, day, 12, tzinfo=UTC)
            if kind == "expense":
                lines = [ledger.dr(ledger.expense_account(memo), amount), ledger.cr(ledger.CASH, amount)]
            else:
                lines = [ledger.dr(ledger.CASH, amount), ledger.cr(ledger.REVENUE, amount)]
            return ledger.post_entry(
                s, kind=kind, memo=memo, lines=lines, idempotency_key=f"{month}-{day}", at=at
            )

        # Given October's income, then November's spending, income, a reversal and four invoices,
        post(31, 10, "income", 1000_00, "retainer")
        post(3, 11, "expense", 12_50, "coffee with Dana")
        flight = post(5, 11, "expense", 300_00, "flight to Lisbon")
        post(10, 11, "expense", 49_00, "#software seats")
        post(12, 11, "income", 2000_00, "workshop")
        ledger.reverse_entry(s, flight.id or 0, "rev-flight", at=datetime(2026, 11, 15, tzinfo=UTC))
        one = _issue(s, date(2026, 11, 2), date(2026, 11, 16), 1500_00)
        _pay(s, one, date(2026, 11, 20))  # paid within the month: not open at its end
        _issue(s, date(2026, 11, 20), date(2026, 11, 25), 800_00)  # open and overdue
        three = _issue(s, date(2026, 11, 28), date(2026, 12, 28), 400_00)  # open, not yet due
        _pay(s, three, date(2026, 12, 3))  # paid in December: still open at November's end
        _issue(s, date(2026, 12, 2), date(2026, 12, 30), 50_00)  # December's
        s.flush()

        # When November is summarised, its numbers come from the lines.
        nov = summarize(s, "2026-11", today=date(2026, 12, 15))
        assert nov.income_cents == 2000_00 + 1500_00 + 800_00 + 400_00
        assert nov.expenses_cents == {"meals": 12_50, "software": 49_00}  # travel reversed to nothing
        assert nov.net_cents == 4700_00 - 61_50
        assert nov.cash_cents == 1000_00 - 12_50 - 49_00 + 2000_00 + 1500_00
        assert (nov.open_invoices, nov.open_cents) == (["INV-2026-0002", "INV-2026-0003"], 1200_00)
        assert (nov.overdue_invoices, nov.overdue_cents) == (["INV-2026-0002"], 800_00)
        assert render(nov).splitlines() == [
            "Summary 2026-11:",
            "  Income $4,700.00",
            "  Expenses $61.50 (meals $12.50, software $49.00)",
            "  Net $4,638.50",
            "  Cash at month end $4,438.50",
            "  Open invoices 2 ($1,200.00); overdue 1 ($800.00): INV-2026-0002",
        ]
        oct_ = summarize(s, "2026-10", today=date(2026, 12, 15))
        assert (oct_.income_cents, oct_.cash_cents, oct_.open_invoices) == (1000_00, 1000_00, [])
        assert ledger.verify_ledger(s) == []


def test_same_key_twice_is_one_entry_and_one_invoice(tmp_path):
    with books_engine(tmp_path, None) as engine:
        a = run(engine, "record_expense", {"amount": "5", "memo": "taxi"}, key="k-exp")
        b = run(engine, "record_expense", {"amount": "5", "memo": "taxi"}, key="k-exp")
        assert a.payload["entry_id"] == b.payload["entry_id"]
        i1 = run(engine, "create_invoice", {"customer": "Acme", "amount": "9"}, key="k-inv")
        i2 = run(engine, "create_invoice", {"customer": "Acme", "amount": "9"}, key="k-inv")
        assert i1.payload == i2.payload
        with Session(engine) as s:
            assert len(s.exec(select(LedgerEntry)).all()) == 2
            assert len(s.exec(select(Invoice)).all()) == 1
            assert s.exec(text("SELECT last FROM invoicecounter")).scalar_one() == 1


def test_chat_invoice_paid_undo_summary_and_the_auto_limit(app_factory):
    trust = {"bookkeeping.create_invoice": "auto", "bookkeeping.mark_paid": "auto"}
    policy = Policy(trust=trust, auto_amount_limit_cents=100_00)
    app = app_factory(policy=policy)
    chat = ConsoleSession(app)
    year = datetime.now(UTC).year
    # A small invoice is trusted to run; one above the auto limit asks even so.
    [small] = chat.send("invoice Acme Corp 80 logo sketch")
    assert small.card is None and small.text.startswith(f"Done: Issued INV-{year}-0001 to Acme Corp: $80.00")
    [card] = chat.send("invoice Acme Corp 1200 website")
    assert card.card is not None and dict(card.card.fields)["Action"] == "bookkeeping.create_invoice"
    _, done = chat.send("approve")
    assert done.text.startswith(f"Done: Issued INV-{year}-0002")
    assert chat.send("balance")[0].text == "Balance: $0.00. Receivables: $1,280.00 (2 open invoices)."
    assert chat.send("invoices")[0].text.startswith("Open invoices (2, $1,280.00):")
    # Paid with its amount is held to the auto limit too (a wrong amount is refused), and undo reopens it.
    [wrong] = chat.send(f"paid INV-{year}-0001 81")
    assert wrong.card is None and wrong.text == (
        f"Cannot mark INV-{year}-0001 paid ($81.00): INV-{year}-0001 is for $80.00, not $81.00. "
        "Nothing was asked or changed."
    )
    [pay_card] = chat.send(f"paid INV-{year}-0002 $1,200")
    assert pay_card.card is not None and "auto-approval limit" in dict(pay_card.card.fields)["Why I ask"]
    _, paid = chat.send("a")
    assert paid.text == f"Done: Marked INV-{year}-0002 paid: $1,200.00 from Acme Corp. Balance $1,200.00."
    [undone] = chat.send("undo")
    assert undone.text.startswith(f"Undone: Reopened INV-{year}-0002")
    [summary] = chat.send("summary")
    assert "Income $1,280.00" in summary.text and "Open invoices 2 ($1,280.00)" in summary.text
    [bad] = chat.send("summary 2026-13")  # a bad month is a clear answer, not a crash
    assert bad.text.startswith("Refused:") and "month must be YYYY-MM, e.g. 2026-11" in bad.text


def test_old_single_row_entries_become_two_lines_each(tmp_path, database_url):
    from alembic import command
    from sqlalchemy import create_engine

    from memory import migrate
    from memory.db import sqlalchemy_url

    # Given a database at revision 0002 with the old single signed rows (ids 1..5; #4 reverses #3),
    url = database_url or f"sqlite:///{tmp_path / 'old.sqlite'}"
    old = create_engine(sqlalchemy_url(url))
    with old.begin() as conn:
        command.upgrade(migrate._config(conn), "0002")
        rows = [
            (1, "expense", -1250, "coffee with Dana", None),
            (2, "income", 90000, "Acme invoice 7", None),
            (3, "expense", -30000, "flight to Lisbon", None),
            (4, "reversal", 30000, "reversal of #3", 3),
            (5, "expense", -4000, "printer ink", None),
        ]
        for id_, kind, amount, memo, reverses in rows:
            conn.execute(
                text(
                    "INSERT INTO ledgerentry (kind, amount_cents, memo, reverses, idempotency_key, created_at)"
                    " VALUES (:k, :a, :m, :r, :key, :at)"
                ),
                {"k": kind, "a": amount, "m": memo, "r": reverses, "key": f"old{id_}", "at": "2026-11-20"},
            )
    old.dispose()
    # When it is upgraded to head,
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            got = {
                (x.entry_id, x.account, x.debit_cents, x.credit_cents)
                for x in s.exec(select(ledger.JournalLine)).all()
            }
            # then each old row is two lines, a reversal is its original swapped, and the books balance.
            assert got == {
                (1, "expenses:meals", 1250, 0),
                (1, "cash", 0, 1250),
                (2, "cash", 90000, 0),
                (2, "revenue", 0, 90000),
                (3, "expenses:travel", 30000, 0),
                (3, "cash", 0, 30000),
                (4, "cash", 30000, 0),
                (4, "expenses:travel", 0, 30000),
                (5, "expenses:other", 4000, 0),
                (5, "cash", 0, 4000),
            }
            assert ledger.verify_ledger(s) == []
            assert ledger.account_balance(s, ledger.CASH) == -1250 + 90000 - 4000
        # New entries go on after the old ones, on the same ledger.
        assert run(engine, "record_income", {"amount": "1", "memo": "after"}).payload["entry_id"] == 6
    finally:
        engine.dispose()


def test_an_invoice_is_linked_to_the_matching_workspace_customer(tmp_path):
    from memory.workspace import Customer

    with books_engine(tmp_path, None) as engine:
        with transaction(engine) as s:
            s.add(Customer(name="Dana Smith", company="Acme"))
        run(engine, "create_invoice", {"customer": "acme", "amount": "10"})
        run(engine, "create_invoice", {"customer": "Nobody Ltd", "amount": "10"})
        with Session(engine) as s:
            linked = [(i.customer, i.customer_id) for i in s.exec(select(Invoice).order_by(Invoice.id)).all()]
        assert linked == [("acme", 1), ("Nobody Ltd", None)]


def test_an_entry_is_reversed_once_even_under_a_fresh_key(tmp_path, database_url):
    with books_engine(tmp_path, database_url) as engine, transaction(engine) as s:
        lines = [ledger.dr(ledger.expense_account("ink"), 40_00), ledger.cr(ledger.CASH, 40_00)]
        entry = ledger.post_entry(s, kind="expense", memo="ink", lines=lines, idempotency_key="e1")
        first = ledger.reverse_entry(s, entry.id or 0, "undo-1")
        # When it is compensated again under another key (a retried undo that lost its key),
        again = ledger.reverse_entry(s, entry.id or 0, "undo-2")
        # then the reversal already posted comes back and the books moved once.
        assert again.id == first.id
        assert ledger.account_balance(s, ledger.CASH) == 0
        assert len(s.exec(select(LedgerEntry).where(LedgerEntry.reverses == entry.id)).all()) == 1


def test_a_day_at_the_end_of_the_memo_dates_the_entry(tmp_path):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from agents.bookkeeping import journal
    from agents.errors import InvalidArguments
    from agents.registry import Registry

    berlin = ZoneInfo("Europe/Berlin")
    # Given Friday 4 Dec 2026, 23:30 in Berlin (already Saturday 00:30 is not: still Friday there),
    now = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)
    registry = Registry(journal.operations(berlin, lambda: now))

    def propose(memo: str) -> dict[str, object]:
        return registry.propose("bookkeeping.record_expense", {"amount": "40", "memo": memo}, run_id="r", index=0).arguments

    # When a memo ends in a day, the day is taken off it, read in the operator's zone, past-facing,
    assert propose("ink yesterday") == {"amount": "40.00", "memo": "ink", "on": "2026-12-03"}
    assert propose("taxi last friday")["on"] == "2026-11-27"
    assert propose("lunch on monday") == {"amount": "40.00", "memo": "lunch", "on": "2026-11-30"}
    assert propose("stamps 2 days ago")["on"] == "2026-12-02"
    # a memo without one keeps the arguments as they always were,
    assert propose("hat for the sun") == {"amount": "40.00", "memo": "hat for the sun"}
    # and a day after today is refused with one sentence, never recorded.
    with pytest.raises(InvalidArguments) as refused:
        propose("parking 2026-12-25")
    assert str(refused.value).startswith("2026-12-25 is after today") and "Value error" not in str(refused.value)
    with pytest.raises(InvalidArguments, match="is after today"):
        registry.propose(
            "bookkeeping.record_expense", {"amount": "1", "on": f"{now.date() + timedelta(days=2)}"}, run_id="r", index=1
        )


def test_a_dated_expense_is_booked_on_its_day_and_its_card_says_so(app_factory):
    import json

    chat = ConsoleSession(app_factory())
    # Given an expense said to be yesterday's, the card names the day it read (no clock read here: the
    # day is whatever the card's arguments say, so the test holds across midnight),
    [card] = chat.send("spent 40 on ink yesterday")
    assert card.card is not None
    on = date.fromisoformat(json.loads(dict(card.card.fields)["Arguments"])["on"])
    shown = f"on {on:%a} {on.day} {on:%b}"
    assert card.card.title == f"Approve? Record an expense of $40.00 for ink {shown}"
    # when it is approved, the entry is booked on that day, and the Done says so.
    [_, done] = chat.send("approve")
    assert done.text.startswith(f"Done: Recorded expense #1: $40.00 ink {shown}.")
    with Session(chat.app.db) as s:
        assert s.exec(select(LedgerEntry)).one().created_at.date() == on
