package main

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func TestMaintenanceThisPointsAtCompanion(t *testing.T) {
	in := `<soapenv:Body><EnterMaintenanceMode_Task xmlns="urn:vim25"><_this type="HostSystem">host-21</_this><timeout>5</timeout></EnterMaintenanceMode_Task></soapenv:Body>`
	out := string(maintenanceThis([]byte(in)))
	if !strings.Contains(out, `<_this type="HostSystem">host-21/maint</_this>`) || !strings.Contains(out, "<timeout>5</timeout>") {
		t.Fatalf("rewritten: %s", out)
	}
	if again := string(maintenanceThis([]byte(out))); again != out {
		t.Fatalf("rewritten twice: %s", again)
	}
}

func TestHostOpsRegisteredAndBlockers(t *testing.T) {
	e := buildTestEstate(t, smallInventory, nil)
	h1 := e.dcs[0].host("esx-01")
	ops, ok := simulator.Map.Get(opsRef(h1.ref())).(*hostOps)
	if !ok || ops.h != h1 {
		t.Fatalf("companion of esx-01: %#v", simulator.Map.Get(opsRef(h1.ref())))
	}
	var running []string
	e.withLock(func() { running = poweredOnVMs(h1) })
	if len(running) != 0 {
		t.Fatalf("powered-off VMs block maintenance: %v", running)
	}
	vm := e.vmNamed(t, "db-01")
	lockVM(vm, func() { vm.setPower(types.VirtualMachinePowerStatePoweredOn) })
	e.withLock(func() { running = poweredOnVMs(h1) })
	if strings.Join(running, ",") != "db-01" {
		t.Fatalf("running on esx-01: %v", running)
	}
	e.withLock(func() { running = poweredOnVMs(e.dcs[0].host("esx-02")) })
	if len(running) != 0 {
		t.Fatalf("running on esx-02: %v", running)
	}
	ops.setMaintenance(true)
	if !h1.host.Runtime.InMaintenanceMode || !h1.host.Summary.Runtime.InMaintenanceMode {
		t.Fatal("maintenance flag")
	}
	ops.setMaintenance(false)
}
