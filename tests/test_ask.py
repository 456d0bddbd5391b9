"""`kmwizard ask`: the plain-prompt wizard driven by a fake prompt object.

The written files are compared with what `kmwizard generate` writes for the answers the
wizard saved (generate is the independent writer: it reads the preset file back)."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from apiserver_double import apiserver, apiserver_factory  # noqa: F401
from kmwizard import flow
from kmwizard.answers import Answers
from kmwizard.ask import Aborted, run_prompts
from kmwizard.flow import Question, Step
from kmwizard.preset_store import preset_path
from kvc_fixtures import make_fixture_repos
from test_tui_support import generate, tree

ABORT = object()


class FakePrompter:
    """Answers prompts from a script keyed by answer key / menu name; the default otherwise."""

    def __init__(self, script: dict[str, list]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        # Quit means quit, unless a test scripts the warning about unsaved answers (PromptWizard.menu).
        self.script.setdefault("quit-unsaved", [True] * 20)
        self.asked: list[str] = []
        self.messages: list[str] = []
        self.defaults: list = []  # what each prompt offered (pre-filled)

    def _reply(self, key: str, message: str, default):
        self.asked.append(key)
        self.messages.append(message)
        self.defaults.append(default)
        assert len(self.asked) < 300, f"the wizard keeps asking: {self.asked[-10:]}"
        queue = self.script.get(key)
        value = queue.pop(0) if queue else default
        if value is ABORT:
            raise Aborted()
        return value

    def select(self, key, message, choices, default):
        value = self._reply(key, message, default)
        assert value in [v for _label, v in choices], f"{value!r} is not offered for {key}: {choices}"
        return value

    def text(self, key, message, default, *, multiline=False):
        return self._reply(key, message, default)

    def confirm(self, key, message, default):
        return self._reply(key, message, default)

    def edit(self, key, text):
        return self._reply(f"{key}:edit", "(editor)", text)


pytestmark = pytest.mark.usefixtures("isolated_home")  # presets, key map and cache under tmp_path


def run(script: dict, answers: Answers | None = None, **options) -> tuple[int, FakePrompter, str]:
    prompter, out = FakePrompter(script), io.StringIO()
    code = run_prompts(answers or Answers(), prompter=prompter, out=out, **options)
    return code, prompter, out.getvalue()


def test_kvc_day2_prompts_write_what_generate_writes(tmp_path):
    repos = make_fixture_repos(tmp_path / "repos")
    code, prompter, text = run({
        "role": ["infra"],
        "kvc.framework_repo": [str(repos.framework)],
        "kvc.module_repo": [str(repos.module)],
        "action": ["write", "preset", "quit"],
        "output-dir": [str(tmp_path / "ask-out")],
        "preset-name": ["ask-kvc"],
    })
    assert code == 0, text
    # Every question of the KVC day-2 flow was asked, in the flow's order (day 1 ones were not).
    assert prompter.asked.index("method") < prompter.asked.index("day") < prompter.asked.index("role")
    assert "ssh_key" not in prompter.asked and "output.install_dir" not in prompter.asked
    assert "kvc.module_repo" in prompter.asked and "machineconfig.name" in prompter.asked
    assert not any(k.startswith("kmm.") for k in prompter.asked)
    written = tree(tmp_path / "ask-out")
    assert "99-infra-kvc-simple-kmod.yaml" in written
    saved = yaml.safe_load(preset_path("ask-kvc").read_text())
    assert saved["role"] == "infra"
    assert generate(["--preset", "ask-kvc", "--output-dir", str(tmp_path / "gen-out")]) == 0
    assert tree(tmp_path / "gen-out") == written


def test_kmm_prompts_write_what_generate_writes(tmp_path):
    code, prompter, text = run({
        "method": ["kmm"],
        "kmm.name": ["my-driver"],
        "kmm.module_name": ["my_driver"],
        "kmm.ko_files": ["my_driver.ko"],
        "action": ["preview", "write", "save", "quit"],
        "output-dir": [str(tmp_path / "ask-out")],
        "answers-out": [str(tmp_path / "answers.yaml")],
    })
    assert code == 0, text
    assert "day" not in prompter.asked  # a KVC-only question
    assert "kind: Module" in text  # the preview was printed
    written = tree(tmp_path / "ask-out")
    assert "module-my-driver.yaml" in written
    module = yaml.safe_load(written["module-my-driver.yaml"][0])
    assert module["spec"]["moduleLoader"]["container"]["modprobe"]["moduleName"] == "my_driver"
    assert generate(["--answers", str(tmp_path / "answers.yaml"), "--output-dir", str(tmp_path / "gen")]) == 0
    assert tree(tmp_path / "gen") == written


def test_bad_value_is_explained_and_asked_again():
    code, prompter, text = run({"role": ["Bad_Role", "infra"], "action": ["quit"],
                                "kvc.fakeroot": ["/nonexistent"]})
    assert code == 0
    assert prompter.asked.count("role") == 2
    assert "error: role: 'Bad_Role' is not a valid pool role" in text
    # asked again with what was typed, to fix rather than retype (the review: it came back with "worker")
    assert [d for k, d in zip(prompter.asked, prompter.defaults) if k == "role"] == ["", "Bad_Role"]


def test_question_mark_shows_the_help():
    code, prompter, text = run({"role": ["?", ""], "action": ["quit"], "kvc.fakeroot": ["/nonexistent"]})
    assert code == 0
    assert "MachineConfigPool role label" in text and "Answer key: role" in text


def test_errors_lead_back_to_the_questions_at_fault(tmp_path):
    code, prompter, text = run({"kvc.fakeroot": [str(tmp_path / "missing"), str(tmp_path)],
                                "action": ["fix", "quit"]})
    assert code == 0
    assert "error: kvc.fakeroot:" in text and "is not a directory" in text
    assert prompter.asked.count("kvc.fakeroot") == 2


def test_errors_on_rendered_manifests_ask_their_question_again():
    """A Module name too long for the KMM webhook is found on the rendered Module
    (module-*.yaml:$.metadata.name); render names its answer, so "answer the questions with errors
    again" asks kmm.name."""
    from kmwizard.preset_store import load_preset

    long_name = "a" * 40
    # Kept at the question (typed twice), then found again after the walk and asked again.
    code, prompter, text = run({"start": ["keep"], "kmm.name": [long_name, long_name, "short"],
                                "action": ["fix", "quit"]}, load_preset("kmm-ci"))
    assert code == 0, text
    assert f"error: kmm.name: name '{long_name}' (40) + namespace 'openshift-kmm'" in text
    assert prompter.asked.count("kmm.name") == 3  # typed, kept by typing it again, then fixed
    assert prompter.asked.count("action") == 2  # fixed: the second menu offers writing


def test_each_answer_is_checked_at_its_question_with_the_findings_checks():
    """Item 7 of issue 13: the regexp RE2 rejects is reported right after it is typed, and asked again."""
    from kmwizard.preset_store import load_preset

    code, prompter, text = run({"start": ["keep"], "kmm.kernel_mappings": ["- regexp: '^(.+$'", "- regexp: '^a.+$'"],
                                "action": ["quit"]}, load_preset("kmm-ci"))
    assert code == 0
    assert prompter.asked.count("kmm.kernel_mappings") == 2
    assert text.index("does not compile") < text.index("Rendering")  # at the question, not after the walk


def test_multiline_answers_come_from_the_editor_or_a_file(tmp_path):
    from kmwizard.preset_store import load_preset

    mappings = tmp_path / "mappings.yaml"
    mappings.write_text("- regexp: '^.+el9.+$'\n")
    code, prompter, text = run({"start": ["keep"], "kmm.kernel_mappings:how": ["file"],
                                "kmm.kernel_mappings:file": [str(mappings)], "kmm.build_args:how": ["editor"],
                                "kmm.build_args:edit": ["- name: A\n  value: b\n"], "action": ["save", "quit"],
                                "answers-out": [str(tmp_path / "a.yaml")]}, load_preset("kmm-ci"))
    assert code == 0, text
    saved = yaml.safe_load((tmp_path / "a.yaml").read_text())
    assert saved["kmm"]["kernel_mappings"] == [{"regexp": "^.+el9.+$"}]
    assert saved["kmm"]["build_args"] == [{"name": "A", "value": "b"}]
    # the finish key of the typed way is named on its own line, never cut at the terminal's width
    assert "(multi-line: Esc then Enter finishes)" in text


def test_errors_no_question_names_lead_to_a_choice_not_a_loop(monkeypatch):
    from kmwizard import ask
    from kmwizard.findings import error
    from kmwizard.preset_store import load_preset
    from kmwizard.render import Rendering

    monkeypatch.setattr(ask, "render", lambda answers: Rendering(findings=(error("somewhere.yaml:$.x", "bad"),)))
    code, prompter, text = run({"start": ["keep"], "action": ["fix", "quit"], "change": ["role"]},
                               load_preset("kmm-ci"))
    assert code == 0
    assert "No question the wizard asks is at fault (somewhere.yaml:$.x)" in text
    assert "change" in prompter.asked and "role" in prompter.asked


def test_brackets_mean_a_real_default_and_examples_are_labelled_and_never_used():
    """Item 6: [X] only for a default; an example-only prompt says e.g., and Enter leaves it empty."""
    from kmwizard.preset_store import load_preset

    code, prompter, text = run({"start": ["keep"], "action": ["quit"]}, load_preset("kmm-ci"))
    assert code == 0
    prompts = dict(zip(prompter.asked, prompter.messages))
    assert "[" not in prompts["kmm.image_repo_secret"] and "(e.g. my-registry-pull-secret)" in \
        prompts["kmm.image_repo_secret"]
    assert "(left empty: kmm.image_repo_secret has no default, and the example is not used)" in text
    assert "[worker]" in prompts["role"] and "e.g." not in prompts["role"]


def test_abort_exits_130_and_writes_nothing(tmp_path):
    code, prompter, text = run({"role": [ABORT]})
    assert code == 130
    assert "interrupted" in text
    assert not (tmp_path / "kmwizard-output").exists()


def test_a_question_added_to_the_flow_is_asked(monkeypatch):
    extra = Question("kvc.enable_style", "How is the service enabled?", "select")
    steps = tuple(Step(s.id, s.title, s.intro, s.questions + (extra,), s.when) if s.id == "target" else s
                  for s in flow.FLOW)
    monkeypatch.setattr(flow, "FLOW", steps)
    code, prompter, _text = run({"kvc.enable_style": ["require-unit"], "action": ["save", "quit"],
                                 "kvc.fakeroot": ["/nonexistent"], "answers-out": ["a.yaml"]})
    assert code == 0 and "kvc.enable_style" in prompter.asked
    assert yaml.safe_load(Path("a.yaml").read_text())["kvc"]["enable_style"] == "require-unit"


def test_preset_and_file_starts(tmp_path):
    Path("in.yaml").write_text("format_version: 1\nmethod: kmm\nkmm:\n  name: from-file\n")
    code, prompter, _ = run({"start": ["file"], "answers-file": ["missing.yaml", "in.yaml"],
                             "action": ["save", "quit"], "answers-out": ["out.yaml"]})
    assert code == 0
    assert yaml.safe_load(Path("out.yaml").read_text())["kmm"]["name"] == "from-file"
    code, prompter, _ = run({"start": ["preset"], "preset": ["simple-kmod-master-day1"],
                             "action": ["quit"], "output.install_dir": [str(tmp_path)]})
    assert code == 0 and "ssh_key" in prompter.asked  # a day-1 question, from the preset's day: 1


@pytest.mark.parametrize("command", [["ask"], ["tui"], []])
def test_without_a_tty_the_wizards_refuse(command):
    result = subprocess.run([sys.executable, "-m", "kmwizard", *command], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr and "kmwizard generate" in result.stderr
    assert result.stdout == ""


def test_apply_runs_diff_first_then_applies_on_confirmation(apiserver, capsys):  # noqa: F811
    from kmwizard.cli import main  # what kmwizard.main hands the prompt wizard

    answers = Answers({"method": "kmm", "kmm.namespace": "drivers", "kmm.create_namespace": True,
                       "kmm.name": "demo", "kmm.module_name": "demo"})
    code, prompter, text = run({"start": ["keep"], "action": ["apply", "apply", "quit"],
                                "apply-confirm": [False, True]}, answers, run_command=main)
    assert code == 0, text
    printed = capsys.readouterr()
    assert "Nothing was applied." in text and "Applied." in text
    assert "+kind: Module" in printed.out  # the diff came first
    module = apiserver.get("kmm.sigs.x-k8s.io/v1beta1", "Module", "demo", "drivers")
    assert module["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kmwizard"


def test_apply_without_a_runner_runs_the_kmwizard_program(apiserver, capfd):  # noqa: F811
    # run_prompts called on its own (not through kmwizard.main) runs `python -m kmwizard diff/apply`
    # as child processes on the same terminal: the same commands a user would type.
    answers = Answers({"method": "kmm", "kmm.namespace": "drivers", "kmm.create_namespace": True,
                       "kmm.name": "demo", "kmm.module_name": "demo"})
    code, prompter, text = run({"start": ["keep"], "action": ["apply", "quit"], "apply-confirm": [True]}, answers)
    assert code == 0, text
    assert "Applied." in text
    assert "+kind: Module" in capfd.readouterr().out  # the child's diff, on the inherited stdout
    module = apiserver.get("kmm.sigs.x-k8s.io/v1beta1", "Module", "demo", "drivers")
    assert module["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kmwizard"


def test_choosing_the_other_method_sets_its_answers_aside():
    """After a KMM preset, choosing KVC used to leave every kmm.* answer in place, each an error ("this key
    belongs to method kmm") that no KVC question fixes: Answers.switch_method takes them out and says so."""
    from kmwizard.preset_store import load_preset

    code, prompter, text = run({"start": ["keep"], "method": ["kvc"], "kvc.fakeroot": ["/nonexistent"],
                                "action": ["quit"]}, load_preset("kmm-ci"))
    assert code == 0
    assert "Set aside" in text and "kmm.name" in text
    assert "belongs to method" not in text


def test_switch_method_returns_what_it_took_out():
    from kmwizard.preset_store import load_preset

    kmm = load_preset("kmm-ci")
    kvc, aside = kmm.switch_method("kvc")
    assert kvc.get("method") == "kvc" and not any(k.startswith("kmm.") for k in kvc.explicit)
    assert aside and all(k.startswith("kmm.") for k in aside)
    assert not any(f.code == "answer-wrong-method" for f in kvc.check())
    back, none = kvc.update(aside).switch_method("kmm")
    assert back == kmm and none == {}


def test_a_file_that_cannot_be_read_asks_again_how(tmp_path):
    """PromptWizard.multiline_text: an unreadable path said "cannot read ..." and went on to the next
    question, silently keeping the old answer; now it says why and asks again how to give it."""
    from kmwizard.preset_store import load_preset

    mappings = tmp_path / "mappings.yaml"
    mappings.write_text("- regexp: '^.+el9.+$'\n")
    code, prompter, text = run({"start": ["keep"], "kmm.kernel_mappings:how": ["file", "file"],
                                "kmm.kernel_mappings:file": [str(tmp_path / "missing.yaml"), str(mappings)],
                                "action": ["save", "quit"], "answers-out": [str(tmp_path / "a.yaml")]},
                               load_preset("kmm-ci"))
    assert code == 0, text
    assert f"cannot read '{tmp_path / 'missing.yaml'}': No such file or directory" in text
    assert prompter.asked.count("kmm.kernel_mappings:how") == 2
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["kmm"]["kernel_mappings"] == [{"regexp": "^.+el9.+$"}]


def test_apply_without_a_kubeconfig_asks_for_one_first(apiserver, monkeypatch, capsys, tmp_path):  # noqa: F811
    """PromptWizard.apply / kubeconfig_args: with no kubeconfig it asked context and namespace, then failed
    with "pass --kubeconfig FILE", an option `ask` does not have; now it asks for a kubeconfig path first
    (again after a bad one) and passes it to diff and apply."""
    from kmwizard.cli import main

    monkeypatch.delenv("KUBECONFIG")  # HOME (the fixture's) has no .kube/config: nothing is found
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    code, prompter, text = run({"start": ["keep"], "action": ["apply", "quit"], "apply-confirm": [True],
                                "kubeconfig": [str(tmp_path / "missing"), str(tmp_path / "list.yaml"),
                                               str(apiserver.kubeconfig_path)]}, ANSWERS_KMM, run_command=main)
    assert code == 0, text
    assert "No kubeconfig found" in text and "--kubeconfig" not in text
    assert "No such file or directory" in text and "is not a kubeconfig" in text
    assert prompter.asked.index("kubeconfig") < prompter.asked.index("context")
    assert "Applied." in text
    assert "--kubeconfig" not in capsys.readouterr().out
    assert apiserver.get("kmm.sigs.x-k8s.io/v1beta1", "Module", "demo", "drivers") is not None


def test_apply_with_no_kubeconfig_given_is_cancelled(apiserver, monkeypatch):  # noqa: F811
    monkeypatch.delenv("KUBECONFIG")
    calls = []
    code, prompter, text = run({"start": ["keep"], "action": ["apply", "quit"], "kubeconfig": [""]},
                               ANSWERS_KMM, run_command=lambda argv: calls.append(argv) or 0)
    assert code == 0 and calls == []
    assert "Nothing was applied." in text and "context" not in prompter.asked


ANSWERS_KMM = Answers({"method": "kmm", "kmm.namespace": "drivers", "kmm.create_namespace": True,
                       "kmm.name": "demo", "kmm.module_name": "demo"})


def test_quit_with_unsaved_answers_asks_and_apply_later_names_the_saved_file(tmp_path):
    """The review: Quit kept no answers, did not warn, and said "kmwizard apply --answers <file>" though no
    file was saved (PromptWizard.menu)."""
    code, prompter, text = run({"start": ["keep"], "role": ["infra"], "kvc.fakeroot": ["/nonexistent"],
                                "action": ["quit", "save", "quit"], "quit-unsaved": [False],
                                "answers-out": [str(tmp_path / "mine.yaml")]})
    assert code == 0
    assert prompter.asked.count("quit-unsaved") == 1  # asked once; after saving, Quit quits
    assert (tmp_path / "mine.yaml").is_file()
    assert "<file>" not in text


def test_a_preset_name_is_checked_at_once_and_asked_again():
    from kmwizard.preset_store import preset_path

    code, prompter, text = run({"start": ["keep"], "kvc.fakeroot": ["/nonexistent"],
                                "action": ["preset", "quit"], "preset-name": ["My Preset", "my-preset"],
                                "preset-description": ["mine"]})
    assert code == 0 and "'My Preset' is not allowed" in text
    assert prompter.asked.index("preset-description") > prompter.asked.index("preset-name") + 1  # after the retry
    assert preset_path("my-preset").is_file()


def test_help_is_folded_at_words(monkeypatch):
    import os

    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=None: os.terminal_size((60, 24)))
    code, prompter, text = run({"start": ["keep"], "role": ["?", ""], "kvc.fakeroot": ["/nonexistent"],
                                "action": ["quit"]})
    help_lines = text[text.index("The nodes that get the module"):].splitlines()[:4]
    assert all(len(line) <= 58 for line in help_lines), help_lines
    # folded between words: joined with spaces, the lines give the sentence back whole
    assert "The nodes that get the module: worker, master, or a custom pool such as infra." in " ".join(help_lines)
