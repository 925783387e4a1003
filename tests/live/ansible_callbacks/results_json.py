"""A stdout callback for the Ansible live tests: every task's per-host result and the stats, as JSON.

ansible-core has no JSON stdout callback of its own (``ansible.posix.json``
lives in a collection the tests do not install); this one writes the same
shape: ``{"plays":[{"tasks":[{"task":{"name"},"hosts":{HOST: result}}]}],
"stats":{HOST: {"ok","changed","failures","unreachable","skipped"}}}``.
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "results_json"

    def __init__(self) -> None:
        super().__init__()
        self.plays: list[dict[str, Any]] = []

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def _record(self, result: Any, **extra: Any) -> None:
        name = result._task.get_name()
        tasks = [t for t in self.plays[-1]["tasks"] if t["task"]["name"] == name]
        if not tasks:
            tasks = [{"task": {"name": name}, "hosts": {}}]
            self.plays[-1]["tasks"].append(tasks[0])
        tasks[-1]["hosts"][result._host.get_name()] = {**result._result, **extra}

    def v2_runner_on_ok(self, result: Any) -> None:
        self._record(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        out = {"plays": self.plays, "stats": {h: stats.summarize(h)
                                              for h in sorted(stats.processed)}}
        self._display.display(json.dumps(out, default=str))
