"""The hardware version ``options.upgrade_hardware`` may name (``vmx-19``).

``upgrade_hardware: true`` raises VMs that need it to vmx-14, the minimum for
NVDIMMs; ``upgrade_hardware: vmx-N`` names the version instead, in the form
vCenter takes in ``UpgradeVM_Task(version=...)`` and reports in
``config.version``.
"""

from __future__ import annotations

import re

#: The oldest version that can have NVDIMMs (vSphere 6.7, virtual hardware 14).
MIN_NVDIMM_VERSION = 14
# At most two digits, well above any version vSphere has shipped (9.0: vmx-22),
# so a typo such as ``vmx-190`` is an error here rather than a refused task on
# every VM.
_VERSION_RE = re.compile(r"^vmx-([1-9][0-9]?)$")


def parse_hardware_target(text: str) -> int | str:
    """``"vmx-19"`` → 19; anything else → the error message (without a location)."""
    m = _VERSION_RE.match(text.strip())
    if m is None:
        return (f"options.upgrade_hardware: expected true, false or a hardware version such "
                f"as 'vmx-19', got {text!r}")
    version = int(m.group(1))
    if version < MIN_NVDIMM_VERSION:
        return (f"options.upgrade_hardware: {text} is below vmx-{MIN_NVDIMM_VERSION}, the "
                "oldest hardware version that can have NVDIMMs")
    return version
