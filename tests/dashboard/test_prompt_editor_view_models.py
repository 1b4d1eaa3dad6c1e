"""The prompt editor's pure parts: the form prefilled from a version, the form back into the API's
body and sample values, and the API's problems placed under their fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.dashboard import prompt_editor
from services.dashboard.prompt_editor import Draft, EditorForm, Problem
from shared.messages.prompts import PromptBody, PromptVersionInfo

HASH = "sha256:" + "ab" * 32


def version(**document: Any) -> PromptVersionInfo:
    return PromptVersionInfo(
        name="support",
        version=4,
        type=document.get("type", "text"),
        content_hash=HASH,
        author="u-1",
        commit_message="older",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        labels=["latest"],
        document=PromptBody.model_validate({"name": "support", **document}),
    )


def test_the_editor_is_prefilled_from_the_version_with_one_blank_row_each() -> None:
    """Messages, variables (type, required, JSON default, enum values; the default as the sample),
    includes and config as JSON, tags joined; one blank message and variable row follow; the commit
    message starts empty."""
    found = version(
        type="chat",
        messages=[{"role": "system", "content": "Be {{ tone }}."}],
        variables={
            "tone": {"type": "enum", "values": ["kind", "curt"], "default": "kind"},
            "days": {"type": "integer", "required": True},
        },
        includes={"policy": {"name": "refunds", "label": "production"}},
        config={"temperature": 0.2},
        tags=["support", "billing"],
    )
    form = prompt_editor.editor(found)
    assert (form.type, form.based_on, form.commit_message) == ("chat", 4, "")
    assert [(m.role, m.content) for m in form.messages] == [("system", "Be {{ tone }}."), ("user", "")]
    tone, days, blank = form.variables
    assert (tone.type, tone.values, tone.default, tone.sample) == ("enum", "kind, curt", '"kind"', "kind")
    assert (days.type, days.required, days.default, days.sample) == ("integer", True, "", "")
    assert (blank.index, blank.name) == (2, "")
    assert '"label": "production"' in form.includes
    assert '"temperature": 0.2' in form.config
    assert form.tags == "support, billing"


def test_a_text_form_becomes_the_api_body_with_typed_samples() -> None:
    """Blank rows are left out; a default and a non-text sample are read as JSON, a string sample
    as typed (digits stay text), an unparsable number sample goes as text for the API to name."""
    form = EditorForm.model_validate(
        {
            "name": "support",
            "type": "text",
            "template": "{{ name }} {{ days }} {{ code }}",
            "tags": " a, ,b ",
            "commit_message": " kinder ",
            "var_name_0": "name",
            "var_type_0": "string",
            "var_sample_0": "42",
            "var_name_1": "days",
            "var_type_1": "integer",
            "var_required_1": "on",
            "var_default_1": "30",
            "var_sample_1": "7",
            "var_name_2": "code",
            "var_type_2": "number",
            "var_sample_2": "abc",
            "var_name_3": "",
            "msg_content_0": "ignored for text",
        }
    )
    drafted = prompt_editor.draft(form)
    assert isinstance(drafted, Draft)
    assert drafted.body == {
        "name": "support",
        "type": "text",
        "template": "{{ name }} {{ days }} {{ code }}",
        "variables": {
            "name": {"type": "string"},
            "days": {"type": "integer", "required": True, "default": 30},
            "code": {"type": "number"},
        },
        "includes": {},
        "config": {},
        "tags": ["a", "b"],
        "commit_message": "kinder",
    }
    assert drafted.samples == {"name": "42", "days": 7, "code": "abc"}
    assert drafted.slots == {"name": "var-0", "days": "var-1", "code": "var-2"}


def test_a_chat_form_sends_its_non_blank_messages_and_bad_json_is_the_forms_problem() -> None:
    """Chat rows with content become messages (their rows remembered for errors); config that is
    not JSON and includes that are no object are problems of the form under their fields."""
    chat = EditorForm.model_validate(
        {
            "name": "support",
            "type": "chat",
            "msg_role_0": "system",
            "msg_content_0": "Hi.",
            "msg_role_1": "user",
            "msg_content_1": "  ",
            "msg_role_2": "user",
            "msg_content_2": "Bye.",
        }
    )
    drafted = prompt_editor.draft(chat)
    assert isinstance(drafted, Draft)
    assert drafted.body["messages"] == [
        {"role": "system", "content": "Hi."},
        {"role": "user", "content": "Bye."},
    ]
    assert "template" not in drafted.body
    assert drafted.message_slots == ["msg-0", "msg-2"]
    broken = EditorForm.model_validate(
        {"name": "support", "template": "x", "config": "{temperature: 1}", "includes": "[1]"}
    )
    assert prompt_editor.draft(broken) == [
        Problem("includes", "Includes must be a JSON object"),
        Problem("config", "Config is not JSON"),
    ]


def test_the_form_refuses_unknown_fields_and_control_characters() -> None:
    """A field the editor does not send, and a row field with a control character, are 422s."""
    with pytest.raises(ValidationError):
        EditorForm.model_validate({"name": "support", "password": "x"})
    with pytest.raises(ValidationError):
        EditorForm.model_validate({"name": "support", "var_name_0": "a\x00b"})
    with pytest.raises(ValidationError):
        EditorForm.model_validate({"name": "support", "var_name_0": 7})


def test_api_problems_land_under_their_fields() -> None:
    """A missing or mistyped variable under its row, an include cycle under includes, a message's
    problem under the row it came from (blank rows skipped), a template's under the template,
    config under config, an unplaceable one under general; no details: the message."""
    drafted = Draft({}, {}, {"days": "var-1"}, ["msg-0", "msg-2"])
    details = [
        {
            "loc": "days",
            "type": "missing_variable",
            "message": "`days` (integer) is required",
            "names": ["days"],
        },
        {"loc": "days", "type": "mistyped_variable", "message": "`days`: not an integer", "names": ["days"]},
        {"loc": "support", "type": "include_cycle", "message": "include cycle: a -> b -> a", "names": []},
        {
            "loc": "messages[1].content",
            "type": "undeclared_variable",
            "message": "`x` is used",
            "names": ["x"],
        },
        {"loc": "template", "type": "template_syntax", "message": "unexpected '}'"},
        {"loc": ["body", "config", "temperature"], "type": "invalid_config", "message": "too hot"},
        {"loc": "somewhere", "type": "render_failed", "message": "boom"},
    ]
    assert [p.slot for p in prompt_editor.problems(details, "refused", drafted)] == [
        "var-1",
        "var-1",
        "includes",
        "msg-2",
        "template",
        "config",
        "general",
    ]
    assert prompt_editor.problems([], "the prompt is over the plan's limit", drafted) == [
        Problem("general", "the prompt is over the plan's limit")
    ]


def test_every_slot_is_listed_so_a_preview_clears_the_old_problems() -> None:
    """Each fixed field and each message and variable row has a slot; problems fill theirs, the
    rest stay empty, and a problem of an unknown slot goes to general."""
    form = EditorForm.model_validate(
        {"name": "support", "msg_content_0": "", "var_name_0": "", "var_name_1": ""}
    )
    slots = prompt_editor.slot_ids(form)
    assert {"template", "config", "includes", "general", "msg-0", "var-0", "var-1"} <= set(slots)
    shown = prompt_editor.by_slot([Problem("var-1", "bad"), Problem("var-9", "lost")], slots)
    assert shown["var-1"] == ["bad"]
    assert shown["general"] == ["lost"]
    assert shown["var-0"] == []
