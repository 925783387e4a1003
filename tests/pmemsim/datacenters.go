package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// dcState is one datacenter. vCenter scopes names per datacenter: host and
// cluster names in its host folder, datastore names ("the datastore is
// uniquely named within the datacenter", vSphere API Datastore reference),
// VM names per folder.
type dcState struct {
	name       string
	index      int // position in the inventory; the first keeps the single-datacenter ids
	dc         *simulator.Datacenter
	vmFolder   types.ManagedObjectReference
	datastores map[string]*PDatastore // by (escaped) name
	tmp        string                 // directory behind its datastores
}

// hostKey is the key of estate.hosts: host names are unique per datacenter.
func (d *dcState) hostKey(name string) string { return d.name + "/" + name }

func (d *dcState) host(name string) *hostState { return estate.hosts[d.hostKey(name)] }

// seed makes ids derived from names (datastore URLs, PMem volume uuids, VM
// uuids) unique across datacenters while the first datacenter keeps the ids
// of a single-datacenter inventory.
func (d *dcState) seed(name string) string {
	if d == nil || d.index == 0 {
		return name
	}
	return d.name + "/" + name
}

// datastoreIn finds a datastore by name in a datacenter, or (dc nil) the
// first one of that name in any datacenter.
func datastoreIn(dc *dcState, name string) *PDatastore {
	if dc != nil {
		return dc.datastores[name]
	}
	for _, d := range estate.dcs {
		if ds := d.datastores[name]; ds != nil {
			return ds
		}
	}
	return nil
}

// datastoreNamed resolves a datastore name ("[name] path") in the VM's datacenter.
func (vm *PVM) datastoreNamed(name string) *PDatastore {
	if vm.Runtime.Host != nil {
		if h := vm.host(); h != nil {
			return datastoreIn(h.dc, name)
		}
	}
	return datastoreIn(nil, name)
}

// dcOfEntity walks up the parents of an entity to its datacenter.
func dcOfEntity(ref types.ManagedObjectReference) *dcState {
	for i := 0; i < 64; i++ {
		if ref.Type == "Datacenter" {
			for _, d := range estate.dcs {
				if d.dc.Self == ref {
					return d
				}
			}
			return nil
		}
		obj := simulator.Map.Get(ref)
		if obj == nil {
			return nil
		}
		var parent *types.ManagedObjectReference
		switch o := obj.(type) {
		case *PFolder:
			parent = o.Parent
		case *simulator.Folder:
			parent = o.Parent
		case *PVM:
			parent = o.Parent
		default:
			return nil
		}
		if parent == nil {
			return nil
		}
		ref = *parent
	}
	return nil
}

// forgetVM keeps estate.vms (keyed by moref: VM names are unique per folder
// only) in step.
func (e *Estate) forgetVM(vm *PVM) { delete(e.vms, vm.Self) }

// childNamed returns the child of a folder with that name, if any.
func childNamed(f *simulator.Folder, name string) *types.ManagedObjectReference {
	if m := simulator.Map.FindByName(name, f.ChildEntity); m != nil {
		ref := m.Reference()
		return &ref
	}
	return nil
}
