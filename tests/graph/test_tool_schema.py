"""Tool schemas offered to a model carry no titles and no null branches, and still mean the same."""

from __future__ import annotations

import json

from pydantic import BaseModel, Field

from agents.catalog import default_registry
from graph.chat_model import compact_schema, tool_specs


class Draft(BaseModel):
    title: str = Field(description="The draft's title")  # a field named "title" is kept
    amount: float | str
    on: str | None = Field(default=None, description="A day, if not today")
    tags: list[str] | None = None


def test_titles_and_null_branches_go_and_fields_stay():
    schema = compact_schema(Draft.model_json_schema())
    assert "title" not in json.dumps({k: v for k, v in schema["properties"].items() if k != "title"})
    assert schema["properties"]["title"] == {"description": "The draft's title", "type": "string"}
    assert schema["properties"]["amount"] == {"anyOf": [{"type": "number"}, {"type": "string"}]}
    assert schema["properties"]["on"] == {"type": "string", "description": "A day, if not today"}
    assert schema["properties"]["tags"] == {"items": {"type": "string"}, "type": "array"}
    assert schema["required"] == ["title", "amount"]
    assert Draft.model_validate({"title": "x", "amount": 1, "on": None}).on is None  # null still validates


def test_every_offered_tool_is_compact():
    for spec in tool_specs(default_registry()):
        params = spec["function"]["parameters"]
        assert '"title": "' not in json.dumps(params).replace('"title": {', ""), spec["function"]["name"]
        assert '{"type": "null"}' not in json.dumps(params), spec["function"]["name"]


def test_a_general_lookup_goes_with_every_route_and_playbooks_only_when_asked(app_factory):
    app = app_factory(settings={"openai_api_key": "sk-test", "openai_base_url": "http://127.0.0.1:9/v1"})
    router = app.ladder.router
    assert "workspace" in router.always
    assert "playbooks" not in router.always  # a write no intent names is not offered on every call
    assert router.route("spent 40 on ink").agents[0] == "bookkeeping"
