"""Moved to memory/spend.py (the spend records' reads live with the other stores); kept for its importers."""

from memory.spend import Column, Line, RunCost, daily_series, month_start, recent_run_costs, spend_by, total

__all__ = ["Column", "Line", "RunCost", "daily_series", "month_start", "recent_run_costs", "spend_by", "total"]
