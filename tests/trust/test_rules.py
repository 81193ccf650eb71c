"""The trust rules: a scripted month on a fake clock, and properties no sequence of events can break."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from graph.trust_rules import HardLimits, band, covers, record
from memory.trust import Level, Observation
from tests.trust.month import EXPENSE, INCOME, LIMITS, SEND, START, TASK, Month, Step, scripted_month


def test_the_scripted_month_offers_grants_and_demotes_exactly_when_due():
    month = Month(LIMITS).play(scripted_month())
    assert month.events == [
        (10, "offer", EXPENSE, 50_00),  # 10 unchanged approvals, largest $41.50
        (10, "grant", EXPENSE, 50_00),
        (10, "offer", INCOME, 10_00),
        (10, "grant", INCOME, 10_00),
        (13, "offer", TASK, None),  # day 3's edit restarted the streak
        (13, "grant", TASK, None),
        (17, "demote", EXPENSE, None),  # its auto action was undone
        (20, "demote", TASK, None),  # its auto action failed
    ]  # no second offer: the undo and the failure are within 30 days; emails are irreversible
    assert month.outside_bounds == 0
    assert month.auto_runs == 5 + 1 + 7  # expenses days 11–15 and 17; tasks days 14–20
    baseline = Month(LIMITS, graduated=False).play(scripted_month())
    assert (baseline.prompts, month.prompts) == (116, 106)


def test_a_declined_offer_needs_a_fresh_streak():
    steps = [Step(day, EXPENSE, 10_00) for day in range(1, 31)]
    month = Month(LIMITS, accept=False).play(steps)
    assert [(d, what) for d, what, _, _ in month.events] == [(10, "offer"), (20, "offer"), (30, "offer")]
    assert month.auto_runs == 0


def test_record_counts_and_median():
    now = START + timedelta(days=5)
    obs = [
        Observation(EXPENSE, START, "approved", 10_00, decide_s=10),
        Observation(EXPENSE, START + timedelta(days=1), "edited", 20_00, decide_s=30),
        Observation(
            EXPENSE,
            START + timedelta(days=2),
            "approved",
            70_00,
            decide_s=50,
            undone_at=START + timedelta(days=3),
        ),
        Observation(EXPENSE, START + timedelta(days=4), "approved", 5_00, decide_s=20, cost_usd=0.5),
        Observation(TASK, START, "rejected"),
    ]
    rec = record(EXPENSE, obs, now)
    assert (rec.approved, rec.edited, rec.rejected, rec.undone) == (3, 1, 0, 1)
    assert rec.median_decide_s == 25 and rec.largest_cents == 70_00 and rec.cost_usd == 0.5
    assert rec.streak == 1 and rec.override_rate == 0.25
    assert rec.last_undo == START + timedelta(days=3)


def test_bands_round_up_and_never_pass_the_limit():
    assert band(41_50, 100_00) == 50_00 and band(50_00, 100_00) == 50_00 and band(1, 100_00) == 5_00
    assert band(90_00, 75_00) == 75_00 and band(10_000_00, 100_00) == 100_00


KINDS = [EXPENSE, TASK, INCOME, SEND, "trust.set_level", "webhooks.post"]
steps = st.lists(
    st.builds(
        Step,
        day=st.integers(0, 40),
        kind=st.sampled_from(KINDS),
        amount_cents=st.one_of(st.none(), st.integers(0, 300_00)),
        answer=st.sampled_from(["approve", "approve", "approve", "edit", "reject"]),
        undo=st.booleans(),
        fail=st.booleans(),
        untrusted=st.booleans(),
        minute=st.integers(0, 1439),
    ),
    max_size=120,
)
LIMITS_WITH_DENIED = HardLimits(100_00, never=frozenset({SEND}), denied=frozenset({"webhooks.post"}))


@settings(max_examples=150, deadline=None)
@given(steps, st.integers(1, 12))
def test_without_the_operators_approval_nothing_is_ever_promoted(history, streak):
    month = Month(LIMITS_WITH_DENIED, accept=False, streak=streak).play(history)
    assert month.auto_runs == 0 and month.levels == {}
    assert all(what == "offer" for _, what, _, _ in month.events)


@settings(max_examples=150, deadline=None)
@given(steps, st.integers(1, 12))
def test_no_history_promotes_past_a_hard_limit(history, streak):
    month = Month(LIMITS_WITH_DENIED, accept=True, streak=streak).play(history)
    assert month.outside_bounds == 0
    for _, what, kind, bound in month.events:
        if what == "offer":
            assert kind not in (SEND, "trust.set_level", "webhooks.post")
            assert bound is None or bound <= LIMITS_WITH_DENIED.auto_amount_limit_cents


@settings(max_examples=150, deadline=None)
@given(steps)
def test_an_undo_or_failure_on_auto_always_demotes(history):
    month = Month(LIMITS_WITH_DENIED, accept=True, streak=3)
    for step in sorted(history, key=lambda s: (s.day, s.minute)):
        before = month.auto_runs
        month.act(step)
        if month.auto_runs > before and (step.undo or step.fail):
            assert month.levels[step.kind].level == "ask"


@given(
    st.sampled_from(["advisory", "ask", "auto"]),
    st.one_of(st.none(), st.integers(0, 10**9)),
    st.sampled_from(KINDS),
    st.one_of(st.none(), st.integers(0, 10**9)),
)
def test_covers_never_passes_a_hard_limit(level, bound, kind, amount):
    ok = covers(Level(kind, level, bound), LIMITS_WITH_DENIED, kind, amount)  # type: ignore[arg-type]
    if ok:
        assert level == "auto" and LIMITS_WITH_DENIED.allows(kind)
        assert amount is None or (bound is not None and amount <= min(bound, 100_00))
