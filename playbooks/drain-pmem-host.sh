#!/bin/sh
# drain-pmem-host.sh: take a PMem host out for maintenance, and bring it back.
#
# When to use it: before servicing or replacing a host's persistent memory, or
# patching a PMem host, in a cluster where DRS does not move NVDIMM VMs for you.
# Maintenance mode cannot start while VMs run on the host, and the data of NVDIMMs
# and vPMemDisks lives in that host's PMem.
#
# What it does: `pmemctl drain` moves every vPMemDisk of the VMs on esx-01 to
# the shared datastore san-01, moves the VMs with NVDIMMs (and their PMem) to the
# best-fitting other PMem host of the cluster, vMotions the other running VMs,
# then puts esx-01 into maintenance mode and waits. `pmemctl return` takes it out
# of maintenance mode and moves everything back. Written against the demo estate
# (tests/pmemsim/demo.yaml); change the host and the datastore.
#
# Know before you run it:
#   * Run the first command alone first: it only shows the plan, the placement,
#     each host's PMem before and after, and what would still block maintenance.
#   * A VM that fits on no other host blocks the drain; add --power-off-unplaced
#     to power it off in place instead (its PMem stays reserved on the host).
#   * PMem that vSphere HA admission control reserves on the other hosts is kept free.
#   * The drain's journal is $XDG_STATE_HOME/pmemctl/journals/drain-<host>@<vcenter>.jsonl;
#     `pmemctl return` finds it by itself.
set -eu
HOST=${1:-esx-01}
pmemctl drain "$HOST" --datastore san-01
pmemctl drain "$HOST" --datastore san-01 --enter-maintenance --yes
# ... service the host ...
pmemctl return "$HOST" --yes
