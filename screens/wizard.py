"""The new-change wizard: topology (with the chain it builds), parameters checked as you type, then what applies."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from runbook.errors import RunbookError
from runbook.flow import chain
from runbook.flow import topology as topo
from runbook.flow.catalogue import expand
from runbook.flow.engine import Runbook
from runbook.inputs.params import Params
from runbook.inputs.schema import TOPOLOGIES
from runbook.record import store
from screens.app import app_of
from screens.messages import OpenFailed, SessionCreated
from screens.modals import ConfirmModal, ErrorModal, TextModal
from screens.widgets.bounded_list import BoundedOptionList
from screens.widgets.params_form import ParamsForm, help_content
from screens.widgets.steady_input import SteadyInput

PAGES = ("page-topology", "page-params", "page-summary")


def summary_content(params: Params, catalogue: list[Any]) -> Content:
    """Which steps apply to this change and why, in procedure order (the same facts as `runbook steps`)."""
    parts: list[str | tuple[str, str]] = [
        (params.topology, "bold"), "  ", chain.chain_line(params), "\n",
        ("certificates: ", "$text-muted"), chain.validator_summary(params), "\n\n"]
    for instance in expand(catalogue, params):
        if instance.not_applicable:
            parts += [(f"[/] {instance.key:<10}", "$text-disabled"), (f"does not apply: {instance.not_applicable}",
                                                                       "$text-muted"), "\n"]
            continue
        how = "runs by itself" if instance.spec.automation else "by hand, then verified"
        parts += [(f"[ ] {instance.key:<10}", "bold"), instance.title, (f"  ({how})", "$text-muted"), "\n",
                  (f"    why: {instance.why}", "$text-muted"), "\n"]
        if instance.depends_on:
            parts += [(f"    after: {', '.join(instance.depends_on)}", "$text-muted"), "\n"]
    return Content.assemble(*parts)


class NewChangeWizard(Screen[None]):
    BINDINGS = [
        Binding("ctrl+n", "next", "Next", id="wizard.next"),
        Binding("escape", "back", "Back", id="wizard.back"),
        Binding("ctrl+o", "import", "Import params", id="wizard.import"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("New change", "bold"), "  ·  one session = one change on one environment"),
                     id="topbar")
        with ContentSwitcher(initial=PAGES[0], id="wizard-body"):
            with Vertical(id="page-topology"):
                yield Static("1/3 · Which topology is this change?", classes="wizard-title")
                yield BoundedOptionList(*[Option(Content.assemble((name, "bold"), "\n", (topo.CHAINS[name],
                                                                                         "$text-muted")), id=name)
                                          for name in TOPOLOGIES], id="topologies")
                yield Static("enter chooses · ctrl+o imports a params YAML instead", classes="wizard-note")
            with Vertical(id="page-params"):
                yield Static("", id="params-title", classes="wizard-title")
                yield Static("", id="topology-chain")
                yield ParamsForm(id="form")
                yield Static("", id="field-help")
                yield Static("", id="problems")
            with Vertical(id="page-summary"):
                yield Static("3/3 · What will apply, and why", classes="wizard-title")
                with VerticalScroll(id="summary"):
                    yield Static("", id="summary-text")
                yield SteadyInput(placeholder="session name, e.g. night1 (enter creates it)", id="session-name")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#topologies", OptionList).focus()

    @property
    def page(self) -> str:
        return self.query_one(ContentSwitcher).current or PAGES[0]

    def _go(self, page: str) -> None:
        self.query_one(ContentSwitcher).current = page
        if page == "page-topology":
            self.query_one("#topologies", OptionList).focus()
        elif page == "page-params":
            form = self.query_one(ParamsForm)
            self.query_one("#params-title", Static).update(
                Content(f"2/3 · Parameters for {form.topology} (checked as you type; enter moves on)"))
            self.query_one("#topology-chain", Static).update(Content(topo.CHAINS[form.topology]))
            form.set_topology(form.topology)
            self._show_problems()
            form.query(Input).first().focus()
        else:
            form = self.query_one(ParamsForm)
            assert form.params is not None
            self.query_one("#summary-text", Static).update(summary_content(form.params, app_of(self).config.catalogue))
            self.query_one("#session-name", Input).focus()
        self.refresh_bindings()

    def _show_problems(self) -> None:
        form = self.query_one(ParamsForm)
        general = form.general_problems()
        self.query_one("#problems", Static).update(Content("\n".join(general)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        form = self.query_one(ParamsForm)
        form.topology = event.option.id or TOPOLOGIES[0]
        self._go("page-params")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.page == "page-params":
            self._show_problems()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused field's help, default and choices, under the form (one place, whatever the field)."""
        form = self.query_one(ParamsForm)
        spec = form.spec_of(event.widget.id)
        if spec is not None:
            self.query_one("#field-help", Static).update(help_content(spec, form.topology))

    def action_next(self) -> None:
        if self.page == "page-topology":
            self.query_one("#topologies", OptionList).action_select()
        elif self.page == "page-params":
            form = self.query_one(ParamsForm)
            form.show_all = True
            problems = form.validate()
            self._show_problems()
            if problems:
                self.notify(f"{len(problems)} field(s) to fix first: {problems[0]}", severity="warning",
                            markup=False)
                return
            self._go("page-summary")
        else:
            self._create()

    def action_back(self) -> None:
        index = PAGES.index(self.page)
        if index > 0:
            self._go(PAGES[index - 1])
        elif self.query_one(ParamsForm).filled():
            self.app.push_screen(ConfirmModal("Discard this new change?", [
                "The parameters typed or imported so far are not saved anywhere."], yes="Discard", no="Keep editing",
                title="Leave the wizard"), lambda yes: self.app.pop_screen() if yes else None)
        else:
            self.app.pop_screen()

    def action_import(self) -> None:
        self.app.push_screen(TextModal("Import parameters", "Path of a params YAML file (e.g. "
                                       "examples/tmg-seg-eas.yaml)", allow_empty=False), self._import)

    def _import(self, path: str | None) -> None:
        if not path:
            return
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            self.app.push_screen(ErrorModal("Cannot import", f"{path}: {exc}"))
            return
        if not isinstance(data, dict):
            self.app.push_screen(ErrorModal("Cannot import", f"{path}: not a params mapping (topology, domain, ...)"))
            return
        form = self.query_one(ParamsForm)
        form.load(data)
        if form.topology not in TOPOLOGIES:
            form.topology = TOPOLOGIES[0]
        self._go("page-params")
        self.notify(f"imported {path}", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "session-name":
            event.stop()
            self._create()

    def _create(self) -> None:
        name = self.query_one("#session-name", Input).value.strip()
        form = self.query_one(ParamsForm)
        if not name or form.params is None:
            self.notify("name the session first (e.g. night1)", severity="warning")
            return
        self.create_session(name, form.params.data)

    @work(thread=True, exclusive=True, exit_on_error=False, group="create")
    def create_session(self, name: str, data: dict[str, Any]) -> None:
        try:
            path = store.session_path(name)
            if path.exists():
                raise RunbookError(f"SESSION: {path} already exists; choose another name or open it")
            params_file = path.with_name(path.stem + ".params.yaml")
            path.parent.mkdir(parents=True, exist_ok=True)
            store.write_atomic(params_file, store.dump_yaml(data))
            Runbook.create(path, str(params_file), app_of(self).config.catalogue, app_of(self).ports_factory())
        except RunbookError as exc:
            self.post_message(OpenFailed(str(exc)))
            return
        except OSError as exc:
            self.post_message(OpenFailed(f"cannot write the session: {exc}"))
            return
        self.post_message(SessionCreated(path))

    def on_open_failed(self, message: OpenFailed) -> None:
        self.app.push_screen(ErrorModal("Cannot create the session", message.message))

    def on_session_created(self, message: SessionCreated) -> None:
        from screens.runbook_screen import RunbookScreen

        self.app.switch_screen(RunbookScreen(Path(message.path), from_start=True))
