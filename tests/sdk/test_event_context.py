"""What a recorded call carries about the prompt and the experiment it served (pure)."""

from __future__ import annotations

from mno_sdk import Prompt
from mno_sdk.events import build_event
from mno_sdk.experiments import ExperimentAssignment
from mno_sdk.prompts import RenderedPrompt
from mno_wire.usage import Usage

USAGE = Usage(input_tokens=10, output_tokens=2)
RENDERED = RenderedPrompt(
    name="answer",
    version=3,
    type="text",
    text="Hi",
    messages=None,
    config={},
    content_hash="sha256:" + "ab" * 32,
    includes=[],
)


def test_a_rendered_prompt_gives_its_name_version_and_content_hash() -> None:
    """prompt= fills prompt_name and prompt_version and tags the content hash as prompt_hash."""
    event = build_event("openai", "gpt-4o", USAGE, prompt=RENDERED, tags={"team": "search"})
    assert (event["prompt_name"], event["prompt_version"]) == ("answer", "3")
    assert event["tags"] == {"team": "search", "prompt_hash": RENDERED.content_hash}


def test_the_callers_own_fields_win() -> None:
    """An explicit prompt_version or prompt_hash tag is kept over the prompt's."""
    event = build_event(
        "openai", "gpt-4o", USAGE, prompt=RENDERED, prompt_version="3-hotfix", tags={"prompt_hash": "mine"}
    )
    assert (event["prompt_version"], event["tags"]["prompt_hash"]) == ("3-hotfix", "mine")


def test_a_fallback_prompt_names_the_prompt_without_version_or_hash() -> None:
    """A fallback (never fetched) has no version or hash: only its name is recorded."""
    fallback = Prompt(name="answer", version=None, type="text", document={}, fallback=True)
    event = build_event("openai", "gpt-4o", USAGE, prompt=fallback)
    assert event["prompt_name"] == "answer"
    assert "prompt_version" not in event
    assert "prompt_hash" not in event["tags"]


def test_an_assignment_tags_the_variant_and_names_its_version() -> None:
    """experiment= adds the experiment, variant and unit tags and the variant's prompt version."""
    choice = ExperimentAssignment("exp-1", "user-7", "answer", "treatment", 4, in_experiment=True)
    event = build_event("openai", "gpt-4o", USAGE, experiment=choice)
    assert event["tags"] == {"experiment": "exp-1", "variant": "treatment", "unit": "user-7"}
    assert (event["prompt_name"], event["prompt_version"]) == ("answer", "4")
    outside = ExperimentAssignment("exp-1", "user-8", "answer", "control", 3, in_experiment=False)
    assert build_event("openai", "gpt-4o", USAGE, experiment=outside)["tags"] == {}
