"""The wizard's flow: every answer key is asked somewhere, and steps follow the answers."""
from __future__ import annotations

from kmwizard.answers import Answers
from kmwizard.flow import FLOW, questions_for, step_of, steps_for
from kmwizard.keys import KEYS


def test_every_flow_question_is_a_declared_key():
    assert [q.key for s in FLOW for q in s.questions if q.key not in KEYS] == []


def test_every_key_is_asked_by_the_flow():
    asked = {q.key for s in FLOW for q in s.questions}
    assert sorted(set(KEYS) - asked) == []


def test_select_questions_have_choices():
    for step in FLOW:
        for q in step.questions:
            if q.widget == "select":
                assert q.choices() or q.spec.kind == "bool", q.key


def test_kvc_and_kmm_walk_different_steps():
    kvc = [s.id for s in steps_for(Answers())]
    kmm = [s.id for s in steps_for(Answers({"method": "kmm"}))]
    assert "mappings" not in kvc and "mappings" in kmm
    assert "output" in kvc and "output" not in kmm
    assert kvc[0] == kmm[0] == "method"


def test_questions_follow_the_answers():
    target = next(s for s in FLOW if s.id == "target")
    day2 = [q.key for q in questions_for(target, Answers())]
    day1 = [q.key for q in questions_for(target, Answers({"day": 1}))]
    assert "ssh_key" not in day2 and "ssh_key" in day1 and "output.install_dir" in day1
    entitlement = next(s for s in FLOW if s.id == "entitlement")
    certs = [q.key for q in questions_for(entitlement, Answers({"entitlement.source": "certs"}))]
    assert "entitlement.certs_dir" in certs and "entitlement.yum_repo" not in certs


def test_no_question_is_asked_for_the_other_method():
    for answers in (Answers(), Answers({"method": "kmm"})):
        method = answers.get("method")
        for step in steps_for(answers):
            for q in questions_for(step, answers):
                assert method in q.spec.methods, (method, q.key)


def test_step_of_finds_where_a_key_is_asked():
    assert step_of("entitlement.certs_dir").id == "entitlement"
    assert step_of("kmm.kernel_mappings").id == "mappings"
    assert step_of("nope") is None
