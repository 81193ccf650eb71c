"""The outside world: email, calendar, CRM, web fetch and webhooks, each behind a small interface."""
