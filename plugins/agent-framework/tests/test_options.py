"""Factory options, and turning a person's reply into a workflow response."""

from __future__ import annotations

import logging

import agent_framework as af
import pytest
from pydantic import BaseModel

from hostline import ConfigError
from hostline_agent_framework import AgentTarget, WorkflowTarget, agent_framework_target
from hostline_agent_framework._convert import BadAnswer, answer_for, question_of, text_of


@pytest.mark.parametrize("factory, message", [
    ("hostline_af_testapp", "must look like"),
    ("hostline_af_testapp:BUILDER", "WorkflowBuilder"),
    ("hostline_af_testapp:NOT_AN_AGENT", "expected an agent or a Workflow"),
    ("hostline_af_testapp:missing", "missing"),
])
def test_bad_factories(factory, message):
    with pytest.raises((ValueError, AttributeError), match=message):
        agent_framework_target(factory=factory)


def test_bad_options_are_config_errors(hostline_app):
    with pytest.raises(ConfigError, match="keep_checkpoints"):
        hostline_app('[host]\ntarget = "agent-framework"\n[host.target_options]\n'
                     'factory = "hostline_af_testapp:build_workflow"\nkeep_checkpoints = -1\n')


def test_kinds_and_checkpoint_locations(tmp_path, caplog):
    assert isinstance(agent_framework_target(factory="hostline_af_testapp:build_agent"),
                      AgentTarget)
    target = agent_framework_target(factory="hostline_af_testapp:build_workflow",
                                    state_dir=tmp_path, checkpoint_dir="cp")
    assert isinstance(target, WorkflowTarget) and target.checkpoint_root == tmp_path / "cp"
    absolute = tmp_path / "elsewhere"
    assert agent_framework_target(factory="hostline_af_testapp:build_workflow",
                                  checkpoint_dir=absolute).checkpoint_root == absolute
    assert agent_framework_target(factory="hostline_af_testapp:build_workflow",
                                  checkpoints=False).checkpoint_root is None
    with caplog.at_level(logging.WARNING, "hostline.agent_framework"):
        shared = agent_framework_target(factory="hostline_af_testapp:SHARED_WORKFLOW",
                                        state_dir=tmp_path)
    assert isinstance(shared, WorkflowTarget) and "shared by every conversation" in caplog.text


class Choice(BaseModel):
    colour: str
    count: int


def _event(data, response_type):
    return af.WorkflowEvent.request_info(request_id="r1", source_executor_id="x",
                                         request_data=data, response_type=response_type)


@pytest.mark.parametrize("response_type, text, expected", [
    (str, " as is ", " as is "),
    (bool, "Yes", True),
    (bool, "no.", False),
    (int, " 42 ", 42),
    (float, "2.5", 2.5),
    (int | None, "7", 7),
    (int | str, "seven", "seven"),
    (Choice, '{"colour": "red", "count": 2}', Choice(colour="red", count=2)),
])
def test_answers_are_coerced(response_type, text, expected):
    assert answer_for(_event("q?", response_type), text) == expected


@pytest.mark.parametrize("response_type, text", [
    (bool, "maybe"), (int, "many"), (Choice, "red please"), (dict, "x")])
def test_unusable_answers_explain(response_type, text):
    with pytest.raises(BadAnswer):
        answer_for(_event("q?", response_type), text)


def test_message_answers_and_questions():
    msg = answer_for(_event("q", af.Message), "hi")
    assert isinstance(msg, af.Message) and msg.role == "user" and msg.text == "hi"
    assert question_of(_event({"question": "Colour?"}, str)) == "Colour?"
    assert question_of(_event(Choice(colour="a", count=1), Choice)) == \
        '{"colour":"a","count":1}'
    call = af.Content.from_function_call(call_id="c1", name="delete_file",
                                         arguments={"path": "x"})
    approval = af.Content.from_function_approval_request(id="c1", function_call=call)
    event = _event(approval, af.Content)
    assert question_of(event).startswith("Approve calling delete_file(")
    response = answer_for(event, "yes")
    assert response.type == "function_approval_response" and response.approved is True


def test_text_of_shapes():
    assert text_of(None) == ""
    assert text_of([af.Message(role="user", contents=["q"]),
                    af.Message(role="assistant", contents=["a1"]),
                    af.Message(role="assistant", contents=["a2"])]) == "a1\n\na2"
    assert text_of(["x", "y"]) == "x\n\ny"
