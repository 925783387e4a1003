"""Storage policy (PBM) look-ups: the PMem policy id.

PBM lives at ``/pbm/sdk`` on the same vCenter and reuses the vim session
(see :meth:`pmemctl.vsphere.session.Connection.pbm`). Nothing here runs during
``plan`` unless asked: the PMem policy id is a fixed system id on every
vCenter seen so far, and :data:`pmemctl.inventory.model.PMEM_POLICY_ID` is the
fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyVmomi import pbm

from pmemctl.errors import InventoryError
from pmemctl.inventory.model import PMEM_POLICY_NAME

if TYPE_CHECKING:
    from pmemctl.vsphere.session import Connection

PMEM_PROFILE_TYPE = "PmemDefaultProfile"  # PbmSystemCreatedProfileType
# pyVmomi's stubs leave data-object constructors untyped; keep the Any here.
_RESOURCE_TYPE: Any = pbm.profile.ResourceType


def find_pmem_policy_id(conn: Connection) -> str:
    """The id of the "Host-local PMem Default Storage Policy".

    Matches on ``systemCreatedProfileType == "PmemDefaultProfile"`` first (it
    survives a renamed policy and a localized vCenter), then on the name.

    Side Effects:
        ``PbmRetrieveServiceContent`` on first PBM use, ``PbmQueryProfile``,
        ``PbmRetrieveContent``.

    Raises:
        InventoryError: no such policy on this vCenter.
    """
    pm = conn.pbm()
    ids = pm.PbmQueryProfile(
        resourceType=_RESOURCE_TYPE(resourceType="STORAGE"),
        profileCategory="REQUIREMENT",
    )
    if not ids:
        raise _missing(conn)
    profiles = pm.PbmRetrieveContent(profileIds=list(ids))
    by_name: str | None = None
    for p in profiles:
        pid = str(p.profileId.uniqueId)
        if getattr(p, "systemCreatedProfileType", None) == PMEM_PROFILE_TYPE:
            return pid
        if p.name == PMEM_POLICY_NAME and by_name is None:
            by_name = pid
    if by_name is not None:
        return by_name
    raise _missing(conn)


def _missing(conn: Connection) -> InventoryError:
    return InventoryError(
        f"vCenter {conn.settings.endpoint} has no storage policy named {PMEM_POLICY_NAME!r} "
        f"(systemCreatedProfileType {PMEM_PROFILE_TYPE}): is PMem licensed and any PMem host "
        "added to it?"
    )
