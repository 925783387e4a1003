"""Named vCenters: the config file's contexts, and govc's and Ansible's variables as fallbacks.

The file is ``$PMEMCTL_CONFIG``, else ``$XDG_CONFIG_HOME/pmemctl/config.yaml``
(``~/.config/pmemctl/config.yaml``)::

    current-context: vc01
    contexts:
      vc01:
        server: vc01.example.com          # HOST[:PORT], or url: https://vc01/sdk
        user: ops@vsphere.local
        ca-file: ~/.config/pmemctl/vc01-ca.pem
        password-env: VC01_PASSWORD       # or password-command: pass show vsphere/vc01

A password is never read from the file: ``password-env`` names a variable,
``password-command`` a command (run without a shell) whose first line of
output is the password. The command runs only when the context is the one
used and nothing higher (``--password``, ``PMEMCTL_PASSWORD``) gave one.

:func:`fallbacks` turns a context and the environment into the
:class:`~pmemctl.vsphere.session.Fallback` levels that
:func:`~pmemctl.vsphere.session.resolve_settings` reads below the flags and
``PMEMCTL_*`` (README "Named vCenters" has the whole order).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pmemctl.errors import UsageError

if TYPE_CHECKING:
    # Imported when used: `pmemctl config list` needs no pyVmomi.
    from pmemctl.vsphere.session import Fallback

#: Keys a context may have; ``password`` is refused with its own message.
CONTEXT_KEYS = frozenset({"server", "url", "user", "ca-file", "insecure", "password-env",
                          "password-command", "timeout"})
TOP_KEYS = frozenset({"current-context", "contexts"})
#: A password command that hangs (a locked keyring waiting on a prompt) must not hang pmemctl.
PASSWORD_COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Context:
    """One named vCenter of the config file (no password: only where to get it)."""

    name: str
    server: str | None = None
    url: str | None = None
    user: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    password_env: str | None = None
    password_command: str | None = None
    timeout: float | None = None

    @property
    def endpoint(self) -> str:
        """Where the context points, for ``config list`` (a URL's user info left out)."""
        if self.url:
            return self.url.rsplit("@", 1)[-1] if "@" in self.url else self.url
        return self.server or ""


@dataclass(frozen=True)
class Config:
    """The config file as read: its contexts by name and the current one."""

    path: Path
    contexts: dict[str, Context] = field(default_factory=dict)
    current: str | None = None
    exists: bool = False


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """``$PMEMCTL_CONFIG``, else ``$XDG_CONFIG_HOME/pmemctl/config.yaml`` (``~/.config``)."""
    if env.get("PMEMCTL_CONFIG"):
        return Path(env["PMEMCTL_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "pmemctl" / "config.yaml"


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        raise UsageError(f"{_where(path, node)}: {what} must be a string")
    return str(node.value)


def _bool(path: Path, node: yaml.Node, what: str) -> bool:
    value = str(node.value).lower() if isinstance(node, yaml.ScalarNode) else ""
    if value in ("true", "yes", "on"):
        return True
    if value in ("false", "no", "off"):
        return False
    raise UsageError(f"{_where(path, node)}: {what} must be true or false")


def _mapping(path: Path, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise UsageError(f"{_where(path, node)}: {what} must be a mapping")
    seen: set[str] = set()
    for k, _ in node.value:
        key = str(k.value)
        if key in seen:
            raise UsageError(f"{_where(path, k)}: {key!r} is given twice")
        seen.add(key)
    return list(node.value)


def _context(path: Path, name: str, node: yaml.Node) -> Context:
    values: dict[str, Any] = {}
    for k, v in _mapping(path, node, f"context {name!r}"):
        key = str(k.value)
        if key == "password":
            raise UsageError(
                f"{_where(path, k)}: context {name!r} has a password; pmemctl never reads "
                "passwords from its config file: use password-env (a variable's name) or "
                "password-command (a command that prints it)")
        if key not in CONTEXT_KEYS:
            raise UsageError(f"{_where(path, k)}: unknown key {key!r} in context {name!r} "
                             f"(known: {', '.join(sorted(CONTEXT_KEYS))})")
        if key == "insecure":
            values["insecure"] = _bool(path, v, "insecure")
        elif key == "timeout":
            try:
                values["timeout"] = float(_scalar(path, v, "timeout"))
            except ValueError:
                raise UsageError(f"{_where(path, v)}: timeout must be seconds, e.g. 60") from None
        else:
            values[key.replace("-", "_")] = _scalar(path, v, key)
    if "server" in values and "url" in values:
        raise UsageError(f"{_where(path, node)}: context {name!r} has both server and url: "
                         "give one")
    if "server" not in values and "url" not in values:
        raise UsageError(f"{_where(path, node)}: context {name!r} names no vCenter: give "
                         "server (HOST[:PORT]) or url")
    if "password_env" in values and "password_command" in values:
        raise UsageError(f"{_where(path, node)}: context {name!r} has both password-env and "
                         "password-command: give one")
    if values.get("ca_file"):
        values["ca_file"] = str(Path(values["ca_file"]).expanduser())
    return Context(name=name, **values)


def load_config(path: Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Read the config file; a missing file is an empty config.

    Raises:
        UsageError: the file is not valid YAML, has unknown keys, a password,
            or a context without a vCenter (``FILE:LINE:COL`` first).
    """
    path = path or config_path(env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=path)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read config file {path}: {e}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UsageError(f"{at}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if root is None:
        return Config(path=path, exists=True)
    contexts: dict[str, Context] = {}
    current: str | None = None
    for k, v in _mapping(path, root, "the config file"):
        key = str(k.value)
        if key not in TOP_KEYS:
            raise UsageError(f"{_where(path, k)}: unknown key {key!r} (known: "
                             f"{', '.join(sorted(TOP_KEYS))})")
        if key == "current-context":
            current = _scalar(path, v, "current-context")
        else:
            for name_node, ctx_node in _mapping(path, v, "contexts"):
                name = _scalar(path, name_node, "a context's name")
                contexts[name] = _context(path, name, ctx_node)
    if current is not None and current not in contexts:
        raise UsageError(f"{path}: current-context {current!r} is not among the contexts "
                         f"({', '.join(sorted(contexts)) or 'none'})")
    return Config(path=path, contexts=contexts, current=current, exists=True)


def pick_context(config: Config, name: str | None = None,
                 env: Mapping[str, str] = os.environ) -> Context | None:
    """The context in use: ``name`` (``--context``), else ``PMEMCTL_CONTEXT``, else the current.

    Raises:
        UsageError: the named context is not in the file.
    """
    origin = "--context"
    if not name and env.get("PMEMCTL_CONTEXT"):
        name, origin = env["PMEMCTL_CONTEXT"], "PMEMCTL_CONTEXT"
    if not name:
        return config.contexts.get(config.current) if config.current else None
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or f"none: {config.path} has no contexts"
        raise UsageError(f"no context {name!r} ({origin}) in {config.path} (known: {known})")
    return config.contexts[name]


def use_context(config: Config, name: str) -> None:
    """Make ``name`` the current context, rewriting only the ``current-context`` line.

    The rest of the file (comments, order) stays as the user wrote it.

    Side Effects:
        Rewrites the config file (atomically: a temporary file renamed over it).

    Raises:
        UsageError: there is no such context.
    """
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise UsageError(f"no context {name!r} in {config.path} (known: {known})")
    lines = config.path.read_text(encoding="utf-8").splitlines(keepends=True)
    new = f"current-context: {yaml.safe_dump(name, default_style=None).splitlines()[0]}\n"
    for i, line in enumerate(lines):
        if line.startswith("current-context:"):
            lines[i] = new
            break
    else:
        lines.insert(0, new)
    tmp = config.path.with_name(config.path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.chmod(config.path.stat().st_mode & 0o777)
    tmp.replace(config.path)


def _password_getter(ctx: Context, env: Mapping[str, str]) -> Callable[[], str] | None:
    origin = f"context {ctx.name}"
    if ctx.password_env:
        var = ctx.password_env

        def from_env() -> str:
            if not env.get(var):
                raise UsageError(f"{origin} reads its password from ${var}, which is not set")
            return env[var]

        return from_env
    if ctx.password_command:
        command = ctx.password_command

        def from_command() -> str:
            try:
                argv = shlex.split(command)
                done = subprocess.run(argv, capture_output=True, text=True, check=False,
                                      timeout=PASSWORD_COMMAND_TIMEOUT_S)
            except (OSError, ValueError, subprocess.TimeoutExpired) as e:
                raise UsageError(f"{origin}: password-command failed: {type(e).__name__}: "
                                 f"{getattr(e, 'strerror', None) or 'see the command'}") from None
            if done.returncode != 0:
                # Its stderr is not shown: a password manager may print secrets there.
                raise UsageError(f"{origin}: password-command exited {done.returncode}")
            first = done.stdout.splitlines()[0] if done.stdout else ""
            if not first:
                raise UsageError(f"{origin}: password-command printed nothing")
            return first

        return from_command
    return None


def context_fallback(ctx: Context, env: Mapping[str, str] = os.environ) -> Fallback:
    """The :class:`~pmemctl.vsphere.session.Fallback` level for ``ctx``."""
    from pmemctl.vsphere.session import Fallback

    return Fallback(origin=f"context {ctx.name}", url=ctx.url, server=ctx.server, user=ctx.user,
                    password=_password_getter(ctx, env), ca_file=ctx.ca_file,
                    insecure=ctx.insecure, timeout=ctx.timeout)


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    """``env[name]`` as a boolean (session's rules), None when unset or empty."""
    from pmemctl.vsphere.session import flag_bool

    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return flag_bool(raw, name)


def ambient_fallbacks(env: Mapping[str, str] = os.environ) -> list[Fallback]:
    """govc's ``GOVC_*``, then Ansible's ``VMWARE_*``, as Fallback levels (those that name a host).

    govc: ``GOVC_URL`` (scheme optional, https assumed), ``GOVC_USERNAME`` and
    ``GOVC_PASSWORD`` (over the URL's own), ``GOVC_INSECURE``,
    ``GOVC_TLS_CA_CERTS`` (govc's README "Usage"). Ansible (vmware.vmware and
    community.vmware ``vmware_argument_spec``): ``VMWARE_HOST``,
    ``VMWARE_USER``, ``VMWARE_PASSWORD``, ``VMWARE_VALIDATE_CERTS`` (default
    true), ``VMWARE_PORT`` (default 443).
    """
    from pmemctl.vsphere.session import Fallback

    out: list[Fallback] = []
    if env.get("GOVC_URL"):
        pw = env.get("GOVC_PASSWORD") or None
        out.append(Fallback(
            origin="GOVC_URL", url=env["GOVC_URL"], user=env.get("GOVC_USERNAME") or None,
            password=(lambda: pw or "") if pw else None,
            ca_file=env.get("GOVC_TLS_CA_CERTS") or None,
            insecure=_env_bool(env, "GOVC_INSECURE")))
    if env.get("VMWARE_HOST"):
        from pmemctl.vsphere.session import parse_port

        port_text = env.get("VMWARE_PORT") or ""
        validate = _env_bool(env, "VMWARE_VALIDATE_CERTS")
        vpw = env.get("VMWARE_PASSWORD") or None
        out.append(Fallback(
            origin="VMWARE_HOST", server=env["VMWARE_HOST"],
            port=parse_port(port_text, "VMWARE_PORT") if port_text else None,
            user=env.get("VMWARE_USER") or None,
            password=(lambda: vpw or "") if vpw else None,
            insecure=validate is False))
    return out


def fallbacks(context_name: str | None = None,
              env: Mapping[str, str] = os.environ) -> tuple[Fallback | None, list[Fallback]]:
    """The context level (or None) and the ambient levels, for ``resolve_settings``.

    Side Effects:
        Reads the config file.

    Raises:
        UsageError: a bad config file, an unknown context or a bad variable.
    """
    ctx = pick_context(load_config(env=env), context_name, env)
    return (context_fallback(ctx, env) if ctx else None), ambient_fallbacks(env)
