"""pmemctl's public Python API, for ops scripts: the code paths the CLI runs, without the CLI.

::

    import pmemctl

    spec = pmemctl.load_spec("spec.yaml")            # or a dict
    with pmemctl.connect(context="vc01") as session:  # flags' names; the CLI's resolution
        plan = session.plan(spec)                     # what `pmemctl plan` shows
        if not plan.blocked and not plan.empty:
            result = session.apply(spec, on_event=print)
    assert result.ok

Stability: what :data:`__all__` names (re-exported by :mod:`pmemctl`) and the
attributes documented on it follow semantic versioning from 1.0; before 1.0 a
minor release may change them, and says so in its notes. Everything else in
the package (any module reached by its own path, any ``_`` name) is internal
and may change in any release.

Connection settings resolve exactly as on the command line (README "Named
vCenters"): the arguments here take the place of the flags, then
``PMEMCTL_*``, the config file's context, the spec's ``vcenter:``, ``GOVC_*``
and ``VMWARE_*``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pmemctl.apply.events import Event
from pmemctl.apply.executor import ApplyResult
from pmemctl.errors import PmemctlError, SpecError, StalePlanError, UsageError
from pmemctl.inventory.model import Inventory
from pmemctl.plan.model import Plan
from pmemctl.spec.model import Spec

if TYPE_CHECKING:
    from pmemctl.vsphere.session import Connection, ConnectionSettings
    from pmemctl.vsphere.vcenter import VCenter

__all__ = [
    "ApplyResult",
    "Event",
    "Inventory",
    "Plan",
    "PlanBlocked",
    "PmemctlError",
    "Session",
    "Spec",
    "SpecError",
    "StalePlanError",
    "UsageError",
    "connect",
    "load_spec",
    "make_plan",
    "resolve",
]

#: ``on_event`` gets every :class:`Event` of a run (started, progress, done, failed, …).
OnEvent = Callable[[Event], None]


def load_spec(source: str | os.PathLike[str] | Mapping[str, Any], *,
              name: str = "<spec>") -> Spec:
    """A spec from a file path (``-`` is stdin) or from a dict shaped like the YAML.

    A dict is checked exactly as a file is (same rules, same messages);
    ``name`` stands for the file in its diagnostics, whose lines and columns
    are those of the dict written out as YAML, keys in the dict's order.

    Raises:
        SpecError: every problem at once (``.diagnostics``, each with line and column).
        UsageError: the dict holds a value that is not plain data.
    """
    from pmemctl.spec.load import load_spec as load_file
    from pmemctl.spec.load import load_spec_text

    if isinstance(source, Mapping):
        import yaml

        try:
            text = yaml.safe_dump(dict(source), sort_keys=False)
        except yaml.YAMLError as e:
            # A value YAML cannot hold (a Path, a Decimal, an object): say which.
            raise UsageError(f"{name}: the spec dict holds a value that is not plain data "
                             f"(str, int, float, bool, None, list, dict): {e}") from None
        return load_spec_text(text, name)
    return load_file(Path(source))


def make_plan(spec: Spec, inventory: Inventory) -> Plan:
    """The plan for ``spec`` over ``inventory``: pure, no vCenter (the planner itself).

    ``Session.plan`` adds what needs vCenter and the journal (power-ons a
    killed run still owes); this is for what-ifs over a snapshot. (Not
    ``pmemctl.plan``: that name is the planner's package, and Python would
    put the package over a function of that name on first import.)
    """
    from pmemctl.plan.planner import make_plan as planner

    return planner(spec, inventory)


def resolve(*, url: str | None = None, server: str | None = None, user: str | None = None,
            password: str | None = None, ca_file: str | None = None,
            insecure: bool | None = None, timeout: float | None = None,
            context: str | None = None, spec_vcenter: str | None = None,
            env: Mapping[str, str] | None = None) -> ConnectionSettings:
    """Connection settings as the CLI resolves them, the arguments standing for its flags.

    Raises:
        UsageError: nothing names a vCenter, a bad URL, a missing password, …
    """
    from pmemctl.config import fallbacks
    from pmemctl.vsphere.session import resolve_settings

    env = os.environ if env is None else env
    ctx, ambient = fallbacks(context, env)
    return resolve_settings(url=url, server=server, user=user, password=password,
                            ca_file=ca_file, insecure=insecure, spec_vcenter=spec_vcenter,
                            timeout=timeout, env=env, context=ctx, ambient=ambient)


def connect(url: str | None = None, *, server: str | None = None, user: str | None = None,
            password: str | None = None, ca_file: str | None = None,
            insecure: bool | None = None, timeout: float | None = None,
            context: str | None = None, spec_vcenter: str | None = None,
            env: Mapping[str, str] | None = None,
            on_retry: Callable[[str], None] | None = None) -> Session:
    """Log in to a vCenter; use the :class:`Session` as a context manager (it logs out).

    ``on_retry`` hears each transient fault being retried (the CLI prints them).

    Raises:
        UsageError: see :func:`resolve`.
        SessionError: the login failed (the message names the server, never the password).
    """
    from pmemctl.vsphere.session import connect as login

    settings = resolve(url=url, server=server, user=user, password=password, ca_file=ca_file,
                       insecure=insecure, timeout=timeout, context=context,
                       spec_vcenter=spec_vcenter, env=env)
    return Session(login(settings, notify=on_retry))


class _Events:
    """A :class:`~pmemctl.apply.events.Hook` over a plain callable; its errors are dropped."""

    def __init__(self, on_event: OnEvent | None) -> None:
        self._on_event = on_event

    def event(self, e: Event) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(e)
        except Exception:  # a hook must not raise (Hook): a broken print must not stop a run
            return


class Session:
    """A logged-in vCenter. Reads (``snapshot``, ``status``, ``plan``) change nothing.

    Attributes:
        settings: where it is logged in (``repr`` hides the password).
        about: the vCenter's name, version and instance UUID.
        warnings: what a person should know (a deprecated vSphere 9, ``insecure``).
    """

    def __init__(self, conn: Connection) -> None:
        from pmemctl.vsphere.vcenter import VCenter

        self._conn = conn
        self._vcenter: VCenter = VCenter(conn)
        self.settings = conn.settings
        self.about = conn.about
        self.warnings: list[str] = list(conn.warnings)
        if conn.settings.insecure:
            self.warnings.append(f"TLS certificate verification is disabled for "
                                 f"{conn.settings.host}")

    def snapshot(self, spec: Spec | None = None) -> Inventory:
        """The estate: every host, datastore and VM, with the devices of the spec's VMs
        (or of every VM when no spec is given). One read, whatever the estate's size.
        """
        if spec is None:
            from pmemctl.vsphere.snapshot import take_snapshot

            return take_snapshot(self._conn, all_devices=True)
        from pmemctl.plan.select import select_vms, spec_scope

        return self._vcenter.snapshot(lambda light: select_vms(spec, light).names,
                                      scope=spec_scope(spec))

    def status(self) -> dict[str, Any]:
        """What ``pmemctl status -o json`` prints (README "JSON contracts")."""
        from pmemctl.status import build_status
        from pmemctl.vsphere.snapshot import take_snapshot

        return build_status(take_snapshot(self._conn))

    def plan(self, spec: Spec, *, journal: str | os.PathLike[str] | None = None) -> Plan:
        """What ``pmemctl plan`` shows for ``spec``, the owed power-ons of ``journal`` included.

        Raises:
            InventoryError: a selected VM is ambiguous or unknown.
        """
        from pmemctl.apply.events import NullHook
        from pmemctl.apply.journal import JournalState, read_journal
        from pmemctl.apply.run import prepare

        source = self._source(spec)
        # A read needs no journal: a spec without a file (a dict, stdin) plans
        # with none (no owed power-ons from it), where apply would need one.
        if journal is None and spec.path.startswith("<"):
            state = JournalState(path=Path(spec.path))
        else:
            state = read_journal(self._journal(spec, journal))
        _, made = prepare(self._vcenter, source, state, NullHook())
        return made

    def apply(self, spec: Spec, *, on_event: OnEvent | None = None,
              journal: str | os.PathLike[str] | None = None, parallel: int | None = None,
              per_host: int | None = None, per_datastore: int | None = None,
              on_failure: str | None = None, confirm: Callable[[Plan], bool] | None = None,
              plan: Plan | None = None) -> ApplyResult:
        """Make the estate match ``spec``, as ``pmemctl apply --yes`` does.

        The plan is made again here (the estate may have moved since
        :meth:`plan`); ``confirm``, when given, sees it first and nothing runs
        unless it returns True. Given the ``plan`` a script showed or checked
        (from :meth:`plan`), nothing runs unless the plan made now has the
        same changes. A blocked plan raises; an empty one returns an empty
        result. Every step is journaled to ``journal`` (default: the
        CLI's for the spec's file and this vCenter; a spec made from a dict
        needs one), so a killed run resumes when applied again.

        Raises:
            PlanBlocked: the plan has problems (``.plan`` holds it); nothing changed.
            StalePlanError: ``plan`` was given and the estate has moved since.
            UsageError: ``confirm`` said no, or no journal for a spec without a file
                (a dict, stdin).
            VmBusyError: another pmemctl run on this machine holds one of the VMs.
        """
        from pmemctl.apply.run import ApplyRun, change_keys, exec_options, plan_diff

        source = self._source(spec)
        opts = exec_options(spec.options, parallel=parallel, per_host=per_host,
                            per_datastore=per_datastore, on_failure=on_failure)
        hook = _Events(on_event)
        with ApplyRun(self._vcenter, source, opts, self._journal(spec, journal)) as run:
            shown = run.prepare(hook)
            if shown.blocked:
                raise PlanBlocked(shown)
            if shown.empty:
                return ApplyResult()
            if plan is not None and change_keys(plan) != change_keys(shown):
                raise StalePlanError("the estate changed since the plan given was made: "
                                     f"{plan_diff(plan, shown)}. Nothing was changed: plan "
                                     "again and review it")
            if confirm is not None and not confirm(shown):
                raise UsageError("not applied: confirm() said no; nothing was changed")
            return run.execute(hook)

    def default_journal(self, spec: Spec) -> Path:
        """The journal ``apply`` uses for ``spec`` on this vCenter when given none."""
        return self._journal(spec, None)

    def _journal(self, spec: Spec, journal: str | os.PathLike[str] | None) -> Path:
        from pmemctl.apply.journals import journal_for

        if journal is not None:
            return Path(journal)
        if spec.path.startswith("<"):
            raise UsageError(f"a spec without a file ({spec.path}) has nothing to name its "
                             "journal after: pass journal=PATH (one per spec and vCenter)")
        # The CLI's journal for the same spec and vCenter (host and port), so a
        # script and `pmemctl apply` resume each other's runs.
        return journal_for(spec.path, self.settings.host, self.settings.port)

    def _source(self, spec: Spec) -> Any:
        from pmemctl.apply.run import ApplySource

        path = Path(spec.path)
        return ApplySource(path=path, spec_path=path, options=spec.options,
                           vcenter=spec.vcenter, spec=spec)

    def close(self) -> None:
        """Log out (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session({self.settings.display})"


class PlanBlocked(PmemctlError):
    """``Session.apply`` found problems that block the plan; nothing was changed."""

    def __init__(self, blocked: Plan) -> None:
        self.plan = blocked
        super().__init__("the plan is blocked, nothing was changed: "
                         + "; ".join(f"{p.vm}: {p.message}" if p.vm else p.message
                                     for p in blocked.problems))
