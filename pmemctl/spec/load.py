"""Read a spec file (YAML) into the frozen models of :mod:`pmemctl.spec.model`.

The loader works on PyYAML's *node tree* (``yaml.compose``) rather than on
``yaml.safe_load`` output, because only nodes carry positions: every problem is
reported as ``FILE:LINE:COL: message`` and every problem in a file is reported
at once (:class:`~pmemctl.errors.SpecError`), the way terraform reports
diagnostics. A spec with any problem yields no model at all.

Messages name the key path, e.g. ``options.parallel.total`` or
``vms[2].disks['Hard disk 2'].size``.

Limits, so that no input can hang, exhaust memory or overflow the stack
(README "Limits" in playbooks/README.md): the spec is a regular file or
standard input of at most :data:`MAX_SPEC_BYTES`; collections nest at most
:data:`MAX_DEPTH` deep (PyYAML composes recursively); and strings hold no
lone surrogates or control characters, which no vSphere name can contain
and which would break printing the plan. ``validate`` and ``plan`` both read
through :func:`_read` and :func:`_parse`, so they agree on all of it.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pmemctl.errors import Diagnostic, SpecError
from pmemctl.fileio import FileProblem, format_size, read_bounded, read_stream_bounded
from pmemctl.spec.disksel import ALL as ALL_DISKS
from pmemctl.spec.disksel import DiskKeyError, parse_key, unclosed_bracket
from pmemctl.spec.hardware import parse_hardware_target
from pmemctl.spec.model import (
    API_VERSION,
    KEEP,
    NVDIMM_SNAPSHOT_MODES,
    PMEM,
    PMEM_MIGRATION_SHAPES,
    DiskTarget,
    Location,
    Match,
    OnFailure,
    Options,
    Parallel,
    Spec,
    VmEntry,
)
from pmemctl.units import parse_size_mb

__all__ = [
    "ALL_DISKS", "MAX_DEPTH", "MAX_NVDIMMS", "MAX_SPEC_BYTES", "PASSWORD_ENV", "STDIN",
    "load_spec", "load_spec_text", "validate_paths",
]

MAX_NVDIMMS = 64  # vSphere's limit of vNVDIMM devices per VM
# A spec entry is a few lines; 1 MiB is thousands of entries, and PyYAML (pure
# Python) still reads it in seconds. Anything bigger is not a spec.
MAX_SPEC_BYTES = 1 << 20
# A valid spec nests 5 deep (vms[].disks.<label>.storage). PyYAML composes
# recursively, so ~300 levels would be a RecursionError; 32 leaves room for
# a mistaken indentation to be reported as what it is.
MAX_DEPTH = 32
PASSWORD_ENV = "PMEMCTL_PASSWORD"
STDIN = "-"  # the path that means "read the spec from standard input"

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

_TOP_KEYS = ("apiVersion", "vcenter", "options", "vms")
_OPTION_KEYS = (
    "power_off", "upgrade_hardware", "allow_data_loss", "parallel", "on_failure",
    "shutdown_timeout_s", "nvdimm_snapshot_mode", "pmem_migration_shape",
    "hard_power_off", "tools_timeout_s", "skip_blocked",
)
_PARALLEL_KEYS = ("total", "per_host", "per_datastore", "down")
#: Values of a VM entry's ``placement`` (where its NVDIMMs may go).
PLACEMENTS = ("any-host-in-cluster",)
_ENTRY_KEYS = ("name", "match", "nvdimms", "disks", "placement")
_MATCH_KEYS = ("name", "cluster", "folder", "host", "exclude", "attributes")
_TARGET_KEYS = ("storage", "size")
_ON_FAILURE = ("stop", "continue")

# A key that looks like it holds a credential, wherever it appears in the spec:
# password, vcenter_password, admin-pwd, client_secret ...
_SECRET_KEY_RE = re.compile(r"(?:^|[_-])(?:password|passwd|pwd|secret)$", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Only YAML 1.2 spellings: PyYAML (YAML 1.1) also reads yes/no/on/off as
# booleans, but editors and JSON Schema (YAML 1.2) read them as strings, so a
# spec that means one thing to the user's editor and another to pmemctl is
# refused. These options authorise power-offs and data loss; they must be plain.
_TRUE_FALSE = {"true": True, "false": False}
_RESOLVER = yaml.resolver.Resolver()  # how PyYAML would read a plain scalar
_DECIMAL_RE = re.compile(r"^\+?(?:0|[1-9][0-9]*)$")
# vSphere names a new disk "Hard disk N"; a disk pmemctl creates must be asked
# for under that kind of label, or the next run would not find it and create it again.
_NEW_DISK_LABEL_RE = re.compile(r"^Hard disk [1-9][0-9]*$")
# Lone surrogates ("\ud800" in a double-quoted string) are not characters:
# they cannot be encoded, sent to vCenter or printed. Control characters
# ("\e", "\x1b") would reach the terminal inside plan output. Tab and newline
# are ordinary text (block scalars).
_BAD_CHAR_RE = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The longest whole number a limit or timeout may be written with; Python
# refuses to convert strings of more than 4300 digits at all.
_MAX_INT_DIGITS = 18


class _TooDeep(Exception):
    """Raised by :class:`_DepthLimitedLoader` at the first node nested too deep."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(mark)
        self.mark = mark


class _DepthLimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose collections nested over :data:`MAX_DEPTH`.

    The scanner and parser are state machines; only the composer recurses
    (twice per level), so counting here stops a deep document before the
    stack overflows, at the position of the first node too deep.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        """Compose one node, one level deeper than its parent."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            node: Node | None = super().compose_node(parent, index)  # type: ignore[arg-type]
            return node
        finally:
            self._depth -= 1


@dataclass(frozen=True)
class _Pair:
    """One key of a mapping node, with the nodes for its key and value."""

    key: str
    key_node: Node
    value: Node


class _Reader:
    """Walks one spec's node tree, collecting diagnostics instead of stopping at the first."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.diagnostics: list[Diagnostic] = []

    # -- reporting -----------------------------------------------------------------

    def error(self, node: Node, message: str) -> None:
        """Record a problem at the node's start."""
        self.diagnostics.append(Diagnostic(self.filename, *_position(node), message))

    def location(self, node: Node) -> Location:
        """The node's position as a model Location."""
        line, column = _position(node)
        return Location(self.filename, line, column)

    # -- generic shapes ------------------------------------------------------------

    def mapping(self, node: Node, path: str,
                allowed: tuple[str, ...] | None) -> dict[str, _Pair]:
        """The string keys of a mapping node, checked against ``allowed`` (None: any key).

        Reports non-string keys, duplicate keys (YAML allows them silently; the
        first wins here so later checks see what the user wrote first), unknown
        keys with a did-you-mean, and credential keys. Only allowed keys are returned.
        """
        assert isinstance(node, MappingNode)
        pairs: dict[str, _Pair] = {}
        for key_node, value in node.value:
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in pairs:
                first = pairs[key].key_node
                self.error(key_node, f"duplicate key {key!r} {_where(path)}; "
                                     f"first defined at {_line_col(first)}")
            elif _SECRET_KEY_RE.search(key):
                pass  # reported once, by find_secrets, wherever it is
            elif allowed is not None and key not in allowed:
                hint = _suggest(key, allowed)
                self.error(key_node, f"unknown key {key!r} {_where(path)}; {hint}")
            else:
                pairs[key] = _Pair(key, key_node, value)
        return pairs

    def _key(self, key_node: Node, path: str) -> str | None:
        """A mapping key as a string, or None (reported) when it is not a plain string."""
        if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
            self.error(key_node, f"merge keys ('<<') are not supported {_where(path)}; "
                                 "write the keys out")
            return None
        if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR):
            got = _describe(key_node)
            self.error(key_node, f"a key {_where(path)} is not a string (got {got}); quote it")
            return None
        return str(key_node.value)

    def string(self, node: Node, path: str, what: str = "a string") -> str | None:
        """A non-empty string scalar, or None (reported)."""
        if not _is_str(node):
            self.error(node, f"{path}: expected {what}, got {_describe(node)}")
            return None
        value = str(node.value)
        if not value.strip():
            self.error(node, f"{path}: must not be empty")
            return None
        return value

    def boolean(self, node: Node, path: str) -> bool | None:
        """``true`` or ``false`` only (see _TRUE_FALSE for why not yes/no)."""
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            value = _TRUE_FALSE.get(str(node.value).lower())
            if value is not None:
                return value
            self.error(node, f"{path}: expected true or false, got {str(node.value)!r}; "
                             "write true or false (YAML 1.2 tools read it as a string)")
            return None
        self.error(node, f"{path}: expected true or false, got {_describe(node)}")
        return None

    def positive_int(self, node: Node, path: str) -> int | None:
        """A plain decimal integer of at least 1.

        Only decimal digits: YAML 1.1 would read ``010`` as 8 and ``0x10`` as 16,
        which nobody means for a limit or a timeout.
        """
        text = str(node.value) if isinstance(node, ScalarNode) else ""
        if (isinstance(node, ScalarNode) and node.tag == _INT and _DECIMAL_RE.match(text)
                and len(text) <= _MAX_INT_DIGITS):
            value = int(text)
            if value >= 1:
                return value
        self.error(node, f"{path}: expected a whole number of at least 1, got {_describe(node)}")
        return None

    def size(self, node: Node, path: str) -> int | None:
        """A size such as ``16GiB``, in MiB."""
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            self.error(node, f"{path}: expected a size such as 16GiB, got {_describe(node)}")
            return None
        try:
            return parse_size_mb(str(node.value))
        except ValueError as exc:
            self.error(node, f"{path}: {exc}")
            return None

    def expect(self, node: Node, kind: type[Node], path: str, what: str) -> bool:
        """Report unless the node is of ``kind`` (a mapping or a list)."""
        if isinstance(node, kind):
            return True
        self.error(node, f"{path}: expected {what}, got {_describe(node)}")
        return False

    # -- the spec ------------------------------------------------------------------

    def spec(self, root: Node | None) -> Spec | None:
        """The whole document; None when there is nothing to read at all."""
        if root is None:
            self.diagnostics.append(Diagnostic(
                self.filename, 1, 1,
                f"the spec is empty; expected a mapping with apiVersion: {API_VERSION} and vms"))
            return None
        self.find_secrets(root, "", set())
        self.check_text(root)
        if not self.expect(root, MappingNode, "spec", "a mapping (apiVersion, vms, ...)"):
            return None
        top = self.mapping(root, "", _TOP_KEYS)
        self.api_version(root, top.get("apiVersion"))
        vcenter = self.vcenter(top["vcenter"].value) if "vcenter" in top else None
        options = self.options(top["options"].value) if "options" in top else Options()
        if "vms" not in top:
            self.error(root, "missing required key 'vms'")
            vms: tuple[VmEntry, ...] = ()
        else:
            vms = self.entries(top["vms"].value)
        return Spec(vms=vms, options=options or Options(), vcenter=vcenter, path=self.filename)

    def api_version(self, root: Node, pair: _Pair | None) -> None:
        """``apiVersion`` is required so a future v2 spec is never misread as v1."""
        if pair is None:
            self.error(root, f"missing required key 'apiVersion'; add apiVersion: {API_VERSION}")
            return
        value = self.string(pair.value, "apiVersion")
        if value is not None and value != API_VERSION:
            self.error(pair.value, f"apiVersion: expected {API_VERSION!r}, got {value!r}")

    def vcenter(self, node: Node) -> str | None:
        """The vCenter host or URL; never with credentials in it."""
        if not _is_str(node):
            self.error(node, f"vcenter: expected a host name or URL, got {_describe(node)}")
            return None
        value = str(node.value)
        if _has_password(value):
            # The value itself is not echoed: it holds a password.
            self.error(node, "vcenter: a password does not belong in a spec; remove 'user:...@' "
                             f"and set the environment variable {PASSWORD_ENV}")
            return None
        return self.string(node, "vcenter")

    def find_secrets(self, node: Node, path: str, seen: set[int]) -> None:
        """Report every credential-looking key anywhere in the tree, even under unknown keys."""
        if id(node) in seen:  # an alias repeats a node; report it once
            return
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.find_secrets(item, f"{path}[{index}]", seen)
        elif isinstance(node, MappingNode):
            for key_node, value in node.value:
                key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
                if _SECRET_KEY_RE.search(key):
                    self.error(key_node, f"{_join(path, key)}: a password does not belong in a "
                                         f"spec; set the environment variable {PASSWORD_ENV}")
                else:
                    self.find_secrets(value, _join(path, key), seen)

    def check_text(self, root: Node) -> None:
        """Report every string (key or value) holding a character no name can hold.

        A loop with a stack, not recursion, and each node once (an alias
        repeats a node; ``&a [*a]`` even makes a cycle).
        """
        seen: set[int] = set()
        stack: list[tuple[Node, str]] = [(root, "")]
        while stack:
            node, path = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, ScalarNode):
                self._check_chars(node, f"{path}: the value" if path else "the value")
            elif isinstance(node, SequenceNode):
                stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
            elif isinstance(node, MappingNode):
                for key_node, value in node.value:
                    key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
                    if isinstance(key_node, ScalarNode):
                        self._check_chars(key_node, f"a key {_where(path)}")
                    else:
                        stack.append((key_node, path))
                    stack.append((value, _join(path, key)))

    def _check_chars(self, node: ScalarNode, what: str) -> None:
        found = _BAD_CHAR_RE.search(str(node.value))
        if found is None:
            return
        code = ord(found.group())
        # The value is not echoed: it may sit under a secret-looking key.
        if 0xD800 <= code <= 0xDFFF:
            self.error(node, f"{what} contains U+{code:04X}, a lone surrogate (an escape such as "
                             "\\ud800 that is half of a character); write the whole character")
        else:
            self.error(node, f"{what} contains the control character U+{code:04X}; "
                             "names and values must be plain text")

    # -- options -------------------------------------------------------------------

    def options(self, node: Node) -> Options | None:
        """The ``options`` mapping; every key optional."""
        if not self.expect(node, MappingNode, "options", "a mapping"):
            return None
        pairs = self.mapping(node, "options", _OPTION_KEYS)
        flags: dict[str, bool] = {}
        tools_timeout, target = Options().tools_timeout_s, None  # target: vmx-N named
        for key in ("power_off", "upgrade_hardware", "allow_data_loss", "hard_power_off",
                    "skip_blocked"):
            if key == "upgrade_hardware" and key in pairs and _is_str(pairs[key].value):
                given = pairs[key].value
                version = parse_hardware_target(str(given.value))
                if isinstance(version, str):
                    self.error(given, version)
                else:
                    flags[key], target = True, version
                continue
            if key in pairs:
                value = self.boolean(pairs[key].value, f"options.{key}")
                if value is not None:
                    flags[key] = value
        if "tools_timeout_s" in pairs:
            tools = self.positive_int(pairs["tools_timeout_s"].value, "options.tools_timeout_s")
            tools_timeout = tools or tools_timeout
        defaults = Options()
        on_failure = defaults.on_failure
        if "on_failure" in pairs:
            on_failure = self.on_failure(pairs["on_failure"].value) or on_failure
        timeout = defaults.shutdown_timeout_s
        if "shutdown_timeout_s" in pairs:
            timeout = self.positive_int(pairs["shutdown_timeout_s"].value,
                                        "options.shutdown_timeout_s") or timeout
        parallel = defaults.parallel
        if "parallel" in pairs:
            parallel = self.parallel(pairs["parallel"].value) or parallel
        snapshot_mode = defaults.nvdimm_snapshot_mode
        if "nvdimm_snapshot_mode" in pairs:
            snapshot_mode = self.choice(pairs["nvdimm_snapshot_mode"].value,
                                        "options.nvdimm_snapshot_mode", NVDIMM_SNAPSHOT_MODES)
        shape = defaults.pmem_migration_shape
        if "pmem_migration_shape" in pairs:
            shape = self.choice(pairs["pmem_migration_shape"].value,
                                "options.pmem_migration_shape", PMEM_MIGRATION_SHAPES) or shape
        return Options(parallel=parallel, on_failure=on_failure, shutdown_timeout_s=timeout,
                       nvdimm_snapshot_mode=snapshot_mode, pmem_migration_shape=shape,
                       tools_timeout_s=tools_timeout, upgrade_hardware_to=target, **flags)

    def choice(self, node: Node, path: str, allowed: tuple[str, ...]) -> str | None:
        """One of ``allowed`` (a string), else an error naming them."""
        expected = " or ".join(repr(a) for a in allowed)
        value = self.string(node, path, expected)
        if value is None or value in allowed:
            return value
        self.error(node, f"{path}: expected {expected}, got {value!r}")
        return None

    def on_failure(self, node: Node) -> OnFailure | None:
        """``stop`` (the default) or ``continue``."""
        value = self.string(node, "options.on_failure", "'stop' or 'continue'")
        if value is None:
            return None
        if value in _ON_FAILURE:
            return OnFailure(value)
        self.error(node, f"options.on_failure: expected 'stop' or 'continue', got {value!r}")
        return None

    def parallel(self, node: Node) -> Parallel | None:
        """Concurrency limits, each a positive integer.

        ``per_host`` or ``per_datastore`` above ``total`` is accepted: the limits
        apply together and the smallest wins, so it is harmless, and refusing it
        would make lowering ``total`` for one run a two-key edit.
        """
        if not self.expect(node, MappingNode, "options.parallel", "a mapping"):
            return None
        pairs = self.mapping(node, "options.parallel", _PARALLEL_KEYS)
        values: dict[str, int] = {}
        for key, pair in pairs.items():
            value = self.positive_int(pair.value, f"options.parallel.{key}")
            if value is not None:
                values[key] = value
        return Parallel(**values)

    # -- vms -----------------------------------------------------------------------

    def entries(self, node: Node) -> tuple[VmEntry, ...]:
        """The ``vms`` list, with duplicate entries reported."""
        if not self.expect(node, SequenceNode, "vms", "a list of entries"):
            return ()
        if not node.value:
            # No warning channel exists, and a spec that selects nothing is
            # almost always a mistake (wrong indentation, an unfilled template).
            self.error(node, "vms: the list is empty; add at least one entry")
            return ()
        entries: list[VmEntry] = []
        first_seen: dict[str | Match, Node] = {}
        for index, item in enumerate(node.value):
            path = f"vms[{index}]"
            if not self.expect(item, MappingNode, path, "a mapping with name or match"):
                continue
            before = len(self.diagnostics)
            pairs = self.mapping(item, path, _ENTRY_KEYS)
            key_problems = len(self.diagnostics) > before
            selector = self.selector(item, pairs, path)
            # Only the selector decides duplication, so a duplicate is reported
            # even when either entry has other problems.
            duplicate = selector is not None and selector in first_seen
            if duplicate:
                assert selector is not None
                self.error(item, f"{path}: duplicate entry for {_selector(selector)}; "
                                 f"first defined at {_line_col(first_seen[selector])}")
            elif selector is not None:
                first_seen[selector] = item
            entry = self.entry(item, pairs, selector, path, quiet=key_problems)
            if entry is not None and not duplicate:
                entries.append(entry)
        return tuple(entries)

    def selector(self, node: Node, pairs: dict[str, _Pair], path: str) -> str | Match | None:
        """Exactly one of ``name`` (a VM name) or ``match`` (a Match); None when bad."""
        if "name" in pairs and "match" in pairs:
            self.error(pairs["match"].key_node, f"{path}: give either name or match, not both")
            return None
        if "name" in pairs:
            return self.vm_name(pairs["name"].value, f"{path}.name")
        if "match" in pairs:
            return self.match(pairs["match"].value, f"{path}.match")
        self.error(node, f"{path}: needs a name (one VM) or a match (a selection of VMs)")
        return None

    def entry(self, node: Node, pairs: dict[str, _Pair], selector: str | Match | None,
              path: str, *, quiet: bool) -> VmEntry | None:
        """The rest of one entry: what to do with the selected VMs.

        ``quiet`` (the entry has a bad key, such as a misspelt ``nvdimm``)
        skips the "nothing to do" message, which would only echo that problem.
        """
        nvdimms = None
        if "nvdimms" in pairs:
            nvdimms = self.nvdimms(pairs["nvdimms"].value, f"{path}.nvdimms")
        disks = self.disks(pairs["disks"].value, f"{path}.disks") if "disks" in pairs else ()
        if "nvdimms" not in pairs and not _has_entries(pairs.get("disks")):
            if not quiet:
                self.error(node, f"{path}: nothing to do; give nvdimms, disks or both")
            return None
        if selector is None or disks is None or ("nvdimms" in pairs and nvdimms is None):
            return None
        placement = None
        if "placement" in pairs:
            placement = self.placement(pairs["placement"].value, f"{path}.placement",
                                       has_nvdimms="nvdimms" in pairs)
            if placement is None:
                return None
        name = selector if isinstance(selector, str) else None
        match = selector if isinstance(selector, Match) else None
        return VmEntry(name=name, match=match, nvdimms=nvdimms, disks=disks,
                       location=self.location(node), placement=placement)

    def placement(self, node: Node, path: str, *, has_nvdimms: bool) -> str | None:
        """``any-host-in-cluster`` (the only value), on an entry that gives ``nvdimms``."""
        value = self.string(node, path, "a placement")
        if value is None:
            return None
        if value not in PLACEMENTS:
            self.error(node, f"{path}: unknown placement {value!r} (allowed: "
                             + ", ".join(PLACEMENTS) + ")")
            return None
        if not has_nvdimms:
            self.error(node, f"{path}: placement applies to nvdimms; give nvdimms too")
            return None
        return value

    def vm_name(self, node: Node, path: str) -> str | None:
        """An exact VM name; a glob here is a ``match`` written in the wrong place."""
        value = self.string(node, path, "a VM name")
        if value is not None and _looks_like_glob(value):
            self.error(node, f"{path}: {value!r} looks like a glob; name is one exact VM name, "
                             f"use match: {{name: {value!r}}} to select several")
            return None
        return value

    def match(self, node: Node, path: str) -> Match | None:
        """A selector: fnmatch globs on the VM name and, optionally, cluster, folder, host.

        pmemctl.plan.select does the matching; ``folder`` is the folder path
        below the datacenter's VM folder, e.g. ``Prod/Legacy``.
        """
        if not self.expect(node, MappingNode, path, "a mapping with name and optionally "
                                                    "cluster, folder, host"):
            return None
        pairs = self.mapping(node, path, _MATCH_KEYS)
        if "name" not in pairs:
            self.error(node, f"{path}: missing required key 'name' (a glob; '*' selects every VM)")
            return None
        name = self.glob(pairs["name"].value, f"{path}.name", "; use '*' to select every VM")
        narrow: dict[str, str | None] = {}
        ok = name is not None
        for key in ("cluster", "folder", "host"):
            if key in pairs:
                empty = None if key == "folder" else ""
                narrow[key] = self.glob(pairs[key].value, f"{path}.{key}", empty)
                ok = ok and narrow[key] is not None
        exclude = self.globs(pairs["exclude"].value, f"{path}.exclude") if "exclude" in pairs \
            else ()
        attributes = (self.attributes(pairs["attributes"].value, f"{path}.attributes")
                      if "attributes" in pairs else ())
        if not ok or name is None or exclude is None or attributes is None:
            return None
        return Match(name=name, exclude=exclude, attributes=attributes, **narrow)

    def globs(self, node: Node, path: str) -> tuple[str, ...] | None:
        """``exclude``: one glob on the VM name, or a list of them."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            self.error(node, f"{path}: the list is empty; leave exclude out to exclude nothing")
            return None
        out = [self.glob(item, f"{path}[{i}]" if isinstance(node, SequenceNode) else path, "")
               for i, item in enumerate(items)]
        return tuple(g for g in out if g is not None) if all(out) else None

    def attributes(self, node: Node, path: str) -> tuple[tuple[str, str], ...] | None:
        """``attributes``: custom attribute name -> glob on its value (every one must match)."""
        if not self.expect(node, MappingNode, path, "a mapping of custom attribute name to "
                                                    "a glob on its value"):
            return None
        pairs = self.mapping(node, path, None)  # attribute names are the vCenter admin's
        if not pairs:
            self.error(node, f"{path}: the mapping is empty; leave attributes out instead")
            return None
        out: list[tuple[str, str]] = []
        ok = True
        for key, pair in pairs.items():
            value = self.glob(pair.value, _join(path, key), "; use '*' for any value")
            ok = ok and value is not None and bool(key.strip())
            if not key.strip():
                self.error(pair.key_node, f"{path}: an attribute name must not be empty")
            if value is not None:
                out.append((key, value))
        return tuple(out) if ok else None

    def glob(self, node: Node, path: str, empty: str | None) -> str | None:
        """A shell-style glob (``*``, ``?``, ``[seq]``) that fnmatch will read as intended.

        ``empty`` is the hint for an empty string, or None when empty is allowed
        (``folder: ""`` selects VMs directly in the datacenter's VM folder).
        """
        if not _is_str(node):
            self.error(node, f"{path}: expected a glob such as 'legacy-sql-*', "
                             f"got {_describe(node)}")
            return None
        value = str(node.value)
        if empty is not None and not value.strip():
            self.error(node, f"{path}: must not be empty{empty}")
            return None
        if unclosed_bracket(value):
            # fnmatch would silently read the '[' literally: say so instead.
            self.error(node, f"{path}: unclosed '[' in glob {value!r}; write [[] for a literal '['")
            return None
        return value

    def nvdimms(self, node: Node, path: str) -> tuple[int, ...] | None:
        """The complete list of NVDIMM sizes; ``[]`` removes all of them."""
        if not self.expect(node, SequenceNode, path, "a list of sizes ([] for no NVDIMMs)"):
            return None
        if len(node.value) > MAX_NVDIMMS:
            self.error(node, f"{path}: {len(node.value)} NVDIMMs; a VM can have at most "
                             f"{MAX_NVDIMMS}")
            return None
        sizes = [self.size(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        if any(size is None for size in sizes):
            return None
        return tuple(size for size in sizes if size is not None)

    def disks(self, node: Node, path: str) -> tuple[tuple[str, DiskTarget], ...] | None:
        """Disk label (or ``*``) → target, in the order written.

        ``*`` may be combined with labels: it means "every disk not named
        otherwise" (the merge rules live in pmemctl.plan.select).
        """
        if not self.expect(node, MappingNode, path, "a mapping of disk label to target"):
            return None
        result: list[tuple[str, DiskTarget]] = []
        ok = True
        pairs = self.mapping(node, path, None)  # disk labels are free-form
        for label, pair in pairs.items():
            # Always bracketed: labels are names such as 'Hard disk 1', not keys.
            target = self.disk(label, pair, f"{path}[{label!r}]")
            ok = ok and target is not None
            if target is not None:
                result.append((label, target))
        return tuple(result) if ok else None

    def disk(self, label: str, pair: _Pair, path: str) -> DiskTarget | None:
        """One disk target: ``pmem``, a datastore name, ``keep``, or ``{storage, size}``.

        The key is a label, a glob or a selector (pmemctl.spec.disksel); one
        that the planner would not read as written is refused here.
        """
        try:
            parse_key(label)
        except DiskKeyError as exc:
            self.error(pair.key_node, f"{path}: {exc}")
            return None
        node = pair.value
        if _is_str(node):
            storage = self.storage(node, path)
            return DiskTarget(storage) if storage is not None else None
        if not isinstance(node, MappingNode):
            self.error(node, f"{path}: expected 'pmem', a datastore name, or {{storage, size}}, "
                             f"got {_describe(node)}")
            return None
        pairs = self.mapping(node, path, _TARGET_KEYS)
        if "storage" not in pairs:
            self.error(node, f"{path}: missing required key 'storage' ('pmem' or a datastore name)")
            return None
        storage = self.storage(pairs["storage"].value, f"{path}.storage")
        size = self.new_disk_size(label, storage, pairs["size"], path) if "size" in pairs else None
        if storage is None or ("size" in pairs and size is None):
            return None
        return DiskTarget(storage, size)

    def storage(self, node: Node, path: str) -> str | None:
        """``pmem``, ``keep`` or a datastore name."""
        value = self.string(node, path, "'pmem', 'keep' or a datastore name")
        for keyword in (PMEM, KEEP):
            if value is not None and value != keyword and value.lower() == keyword:
                # A datastore named "PMem" is far less likely than a mistyped keyword.
                self.error(node, f"{path}: write the keyword in lower case: {keyword!r} "
                                 f"(got {value!r})")
                return None
        return value

    def new_disk_size(self, label: str, storage: str | None, pair: _Pair,
                      path: str) -> int | None:
        """The size of a vPMemDisk to create when the VM has no disk with this label."""
        where = f"{path}.size"
        if label == ALL_DISKS:
            self.error(pair.key_node, f"{where}: cannot create '*' (every disk); "
                                      "give the new disk's label, e.g. 'Hard disk 2'")
            return None
        if not parse_key(label).exact:
            self.error(pair.key_node, f"{where}: a size creates one new disk, and {label!r} "
                                      "is not one label; give the new disk's label as vSphere "
                                      "will number it, e.g. 'Hard disk 3' on a VM with two disks")
            return None
        if storage == KEEP:
            self.error(pair.key_node, f"{where}: keep leaves a disk as it is; it takes no size")
            return None
        if storage is not None and storage != PMEM:
            self.error(pair.key_node, f"{where}: only a new vPMemDisk can be created; "
                                      "a size needs storage: pmem")
            return None
        if not _NEW_DISK_LABEL_RE.match(label):
            self.error(pair.key_node, f"{where}: vSphere labels a new disk 'Hard disk N'; "
                                      f"use such a label to create one (got {label!r})")
            return None
        return self.size(pair.value, where)


# -- public API --------------------------------------------------------------------


def load_spec_text(text: str, filename: str = "<spec>") -> Spec:
    """Parse spec text; ``filename`` is used in diagnostics and as ``Spec.path``.

    Raises:
        SpecError: carrying every problem found, sorted by position.
    """
    spec, diagnostics = _parse(text, filename)
    if diagnostics or spec is None:
        raise SpecError(diagnostics)
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and parse a spec file; ``-`` reads standard input.

    Raises:
        SpecError: every problem in the file, or a single one if it cannot be read.

    Side Effects:
        Reads the file (or stdin).
    """
    text, filename, problem = _read(path)
    if problem is not None:
        raise SpecError([problem])
    return load_spec_text(text, filename)


def validate_paths(paths: Iterable[str | Path]) -> list[Diagnostic]:
    """Every problem in every given spec file, in file order then position.

    An empty list means all files are valid. Used by ``pmemctl validate``.

    Side Effects:
        Reads the files (``-`` reads stdin).
    """
    diagnostics: list[Diagnostic] = []
    for path in paths:
        text, filename, problem = _read(path)
        if problem is not None:
            diagnostics.append(problem)
            continue
        _, found = _parse(text, filename)
        diagnostics.extend(sorted(found, key=lambda d: (d.line, d.column, d.message)))
    return diagnostics


# -- helpers -----------------------------------------------------------------------


def _read(path: str | Path) -> tuple[str, str, Diagnostic | None]:
    """The text of a spec file, its display name, and a problem if it cannot be read."""
    filename = "<stdin>" if str(path) == STDIN else str(path)
    try:
        raw = _read_bytes(path)
    except FileNotFoundError:
        return "", filename, Diagnostic(filename, 1, 1, "cannot read: No such file or directory")
    except FileProblem as exc:
        hint = "; give a spec file, or - to read standard input" if not exc.too_large else (
            "; a spec is a few KiB")
        return "", filename, Diagnostic(filename, 1, 1, f"cannot read: {exc}{hint}")
    try:
        # utf-8-sig: editors on Windows like to prepend a BOM.
        return raw.decode("utf-8-sig"), filename, None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start:exc.start].decode("utf-8", "replace")) + 1
        message = f"cannot read: not UTF-8 text ({exc.reason})"
        return "", filename, Diagnostic(filename, line, column, message)


def _read_bytes(path: str | Path) -> bytes:
    """At most :data:`MAX_SPEC_BYTES` of a regular file, or of stdin for ``-``.

    Never blocks on a FIFO and never reads a device (``/dev/zero`` has no
    end): a named path must be a regular file. Standard input may be a pipe.
    """
    if str(path) != STDIN:
        return read_bounded(path, MAX_SPEC_BYTES)
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return read_stream_bounded(buffer, MAX_SPEC_BYTES)
    text = sys.stdin.read(MAX_SPEC_BYTES + 1)  # a text stream without bytes (tests, embedding)
    if len(text) > MAX_SPEC_BYTES:
        raise FileProblem(f"it is larger than the {format_size(MAX_SPEC_BYTES)} limit",
                          too_large=True)
    return text.encode("utf-8", "surrogatepass")


def _parse(text: str, filename: str) -> tuple[Spec | None, list[Diagnostic]]:
    """Compose and read the text; the spec is meaningful only without diagnostics."""
    if len(text) > MAX_SPEC_BYTES:  # load_spec_text is public: the same limit as files
        return None, [Diagnostic(filename, 1, 1, f"the spec is larger than the "
                                                 f"{format_size(MAX_SPEC_BYTES)} limit")]
    try:
        root = yaml.compose(text, Loader=_DepthLimitedLoader)
    except _TooDeep as exc:
        return None, [Diagnostic(filename, exc.mark.line + 1, exc.mark.column + 1,
                                 f"nested more than {MAX_DEPTH} levels deep; a spec needs "
                                 "at most 5 (vms[].disks.<label>.storage)")]
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(exc, filename)]
    except yaml.reader.ReaderError as exc:  # a control character: no mark, an offset
        return None, [_reader_diagnostic(exc, text, filename)]
    except yaml.YAMLError as exc:  # not raised by compose today; never let one escape
        return None, [Diagnostic(filename, 1, 1, f"invalid YAML: {exc}")]
    reader = _Reader(filename)
    spec = reader.spec(root)
    return spec, reader.diagnostics


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, filename: str) -> Diagnostic:
    """A YAML syntax error at its problem mark, with the parser's context if any."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem, context = exc.problem, exc.context
    if problem and context and not context.startswith("while"):
        # The composer's "expected a single document..., but found another document".
        message = f"{context}, {problem}"
    else:
        message = problem or context or "syntax error"
        ctx = exc.context_mark
        if problem and context and ctx is not None:
            message += f" ({context} at {ctx.line + 1}:{ctx.column + 1})"
    return Diagnostic(filename, line, column, f"invalid YAML: {message}")


def _reader_diagnostic(exc: yaml.reader.ReaderError, text: str, filename: str) -> Diagnostic:
    """A character YAML refuses (a control character), located by its offset."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
    return Diagnostic(filename, line, column,
                      f"invalid YAML: unacceptable character #x{char:04x}: {exc.reason}")


def _position(node: Node) -> tuple[int, int]:
    """1-based line and column of a node (PyYAML marks are 0-based)."""
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _line_col(node: Node) -> str:
    line, column = _position(node)
    return f"{line}:{column}"


def _has_entries(pair: _Pair | None) -> bool:
    """True when a ``disks`` value is present and not an empty mapping."""
    return pair is not None and not (isinstance(pair.value, MappingNode) and not pair.value.value)


def _is_str(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _STR


def _describe(node: Node) -> str:
    """How a value was written, for "expected X, got Y" messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    if node.tag == _NULL and not value:
        return "nothing"
    if node.tag == _STR:
        # Say "quoted" only when the quotes are what made it a string ("8", "true").
        quoted = isinstance(node, ScalarNode) and node.style in ("'", '"')
        if quoted and _plain_tag(value) != _STR:
            return f"the quoted string {value!r}"
        return repr(value)
    return value


def _plain_tag(value: str) -> str:
    """The tag PyYAML would give ``value`` written without quotes."""
    tag: str = _RESOLVER.resolve(ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _join(path: str, key: str) -> str:
    """Extend a key path: ``options.power_off``, ``vms[0].disks['Hard disk 1']``."""
    if not path:
        return key
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{key!r}]"


def _where(path: str) -> str:
    return f"in {path}" if path else "at top level"


def _suggest(key: str, allowed: Iterable[str]) -> str:
    """``did you mean 'x'?`` when a known key is close, else the list of known keys."""
    close = difflib.get_close_matches(key, list(allowed), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "expected one of: " + ", ".join(sorted(allowed, key=str.lower))


def _selector(selector: str | Match) -> str:
    """An entry's selector as a user would recognise it in a duplicate message."""
    if isinstance(selector, str):
        return f"name {selector!r}"
    parts = [f"{key}={value}" for key, value in (
        ("name", selector.name), ("cluster", selector.cluster),
        ("folder", selector.folder), ("host", selector.host)) if value is not None]
    parts += [f"exclude={g}" for g in selector.exclude]
    parts += [f"{k}={v}" for k, v in selector.attributes]
    return "match(" + ", ".join(parts) + ")"


def _looks_like_glob(value: str) -> bool:
    return "*" in value or "?" in value


def _has_password(value: str) -> bool:
    """True for ``user:pass@host`` (with or without a scheme)."""
    rest = _SCHEME_RE.sub("", value, count=1)
    # Up to the last "@", not the first "/": a password written unencoded may
    # hold "/", "?" or "#", which would end the authority early. The user part
    # (before the first ":") cannot hold them, which tells a query apart.
    # pmemctl.vsphere.session._split_userinfo reads URLs by the same rule.
    if "@" not in rest:
        return False
    userinfo = rest.rsplit("@", 1)[0]
    user = userinfo.split(":", 1)[0]
    return ":" in userinfo and not any(c in user for c in "/?#")
