package main

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// buildEstate creates the vcsim model and fills it from the inventory.
//
// The VPX model is created with zero default objects (no DC0_H0,
// DC0_C0_RP0_VM0, ...). Datacenter, clusters and hosts go through vcsim's
// own API (in-process, no XML), so they are complete vcsim objects.
// Datastores are created on one host and then mounted on the others by
// hand, because vcsim's CreateLocalDatastore cannot share one Datastore
// object between hosts. VMs are built directly in memory: vcsim's CreateVM
// writes several files per VM, far too slow for a 5,000-VM estate.
//
// It makes e the process's estate (see the estate variable) before any
// vcsim object exists, so that the handlers it wraps reach e.
func buildEstate(e *Estate, inv *Inventory) (*simulator.Model, error) {
	estate = e
	model := simulator.VPX()
	model.Datacenter = 0
	model.Portgroup = 0
	model.Host = 0
	model.Cluster = 0
	model.ClusterHost = 0
	model.Datastore = 0
	model.Machine = 0
	model.Autostart = false
	about := &model.ServiceContent.About
	about.ApiVersion = e.apiVersion
	about.Version = aboutVersion(e.apiVersion)
	about.FullName = fmt.Sprintf("VMware vCenter Server %s build-pmemsim (pmemsim)", about.Version)
	about.Build = "pmemsim"
	about.LicenseProductVersion = strings.SplitN(e.apiVersion, ".", 2)[0] + ".0"
	if err := model.Create(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, err
	}
	e.sessions = newSessionTracker(e.sessionIdle, terminateSession(c))
	startUpdateHub()
	// Datastores are backed by (empty) temp directories: vcsim requires a
	// directory, pmemsim never writes files into it.
	tmp, err := os.MkdirTemp("", "pmemsim-")
	if err != nil {
		return nil, err
	}
	e.tempDirs = append(e.tempDirs, tmp)
	for _, dcSpec := range inv.Datacenters {
		if err := buildDatacenter(ctx, c, tmp, dcSpec); err != nil {
			return nil, err
		}
	}
	wrapEnvironmentBrowsers()
	wrapPropertyCollector()
	wrapSearchIndex()
	for _, dcSpec := range inv.Datacenters {
		dc := e.dcs[dcSpec.index]
		wrapVMFolders(dc.vmFolder)
		if err := buildVMs(ctx, c, dc, dcSpec); err != nil {
			return nil, err
		}
	}
	setAttributes(inv, attributed)
	attributed = nil
	return model, nil
}

// attributedVM is a loaded VM with the custom attributes its inventory entry gives.
type attributedVM struct {
	vm    *PVM
	attrs [][2]string
}

// attributed collects them while buildVMs runs (the build is single-threaded).
var attributed []attributedVM

// setAttributes defines the inventory's VM custom attributes in the
// CustomFieldsManager (vcsim's, simulator/custom_fields_manager.go: a field
// added there appears in every existing VM's availableField) and sets each
// VM's values in customValue and value, as SetField does. Fields are defined
// after every VM exists, so each VM lists every field.
func setAttributes(inv *Inventory, vms []attributedVM) {
	cfm := simulator.Map.CustomFieldsManager()
	keys := map[string]int32{}
	for _, dcSpec := range inv.Datacenters {
		for _, v := range dcSpec.VMs {
			for _, a := range v.Attributes {
				if _, ok := keys[a[0]]; ok {
					continue
				}
				body := cfm.AddCustomFieldDef(&types.AddCustomFieldDef{Name: a[0], MoType: "VirtualMachine"})
				keys[a[0]] = body.(*methods.AddCustomFieldDefBody).Res.Returnval.Key
			}
		}
	}
	for _, av := range vms {
		for _, a := range av.attrs {
			val := &types.CustomFieldStringValue{CustomFieldValue: types.CustomFieldValue{Key: keys[a[0]]}, Value: a[1]}
			av.vm.CustomValue = append(av.vm.CustomValue, val)
			av.vm.Value = append(av.vm.Value, val)
		}
	}
}

// buildDatacenter creates one datacenter with its clusters, hosts and
// datastores (VMs come later, once the folders are wrapped).
func buildDatacenter(ctx context.Context, c *vim25.Client, tmp string, spec *DatacenterSpec) error {
	dcObj, err := object.NewRootFolder(c).CreateDatacenter(ctx, spec.Name)
	if err != nil {
		return err
	}
	folders, err := dcObj.Folders(ctx)
	if err != nil {
		return err
	}
	dc := &dcState{name: spec.Name, index: spec.index, dc: simulator.Map.Get(dcObj.Reference()).(*simulator.Datacenter),
		vmFolder: folders.VmFolder.Reference(), datastores: map[string]*PDatastore{}, tmp: filepath.Join(tmp, fmt.Sprint(spec.index))}
	estate.dcs = append(estate.dcs, dc)

	for _, cs := range spec.Clusters {
		cl, err := folders.HostFolder.CreateCluster(ctx, cs.Name, types.ClusterConfigSpecEx{})
		if err != nil {
			return err
		}
		for _, h := range cs.Hosts {
			if err := addHost(ctx, dc, h, func(s types.HostConnectSpec) (*object.Task, error) {
				return cl.AddHost(ctx, s, true, nil, nil)
			}); err != nil {
				return err
			}
		}
		if cs.HA != nil {
			configureHA(cl.Reference(), cs, dc)
		}
	}
	for _, h := range spec.Hosts {
		if h.Cluster != "" {
			continue
		}
		if err := addHost(ctx, dc, h, func(s types.HostConnectSpec) (*object.Task, error) {
			return folders.HostFolder.AddStandaloneHost(ctx, s, true, nil, nil)
		}); err != nil {
			return err
		}
	}
	for _, d := range spec.Datastores {
		var hosts []*hostState
		if d.Hosts == nil {
			for _, h := range spec.Hosts {
				hosts = append(hosts, dc.host(h.Name))
			}
		} else {
			for _, n := range d.Hosts {
				hosts = append(hosts, dc.host(n))
			}
		}
		if len(hosts) == 0 {
			return fmt.Errorf("%s: datastore %s: there are no hosts to mount it on", d.where, d.Name)
		}
		ds, err := createDatastore(ctx, c, dc, d.Name, d.Type, d.Capacity, hosts, nil)
		if err != nil {
			return fmt.Errorf("datastore %s: %v", d.Name, err)
		}
		if d.Local {
			if v, ok := ds.Info.(*types.VmfsDatastoreInfo); ok {
				v.Vmfs.Local = types.NewBool(true)
			}
		}
	}
	for _, h := range spec.Hosts {
		if err := setupHostPMem(ctx, c, dc, dc.host(h.Name)); err != nil {
			return fmt.Errorf("host %s: %v", h.Name, err)
		}
	}
	return nil
}

// addHost adds one host through vcsim's API and records its state.
func addHost(ctx context.Context, dc *dcState, h *HostSpec, add func(types.HostConnectSpec) (*object.Task, error)) error {
	task, err := add(types.HostConnectSpec{HostName: h.Name})
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return fmt.Errorf("host %s: %v", h.Name, err)
	}
	ref := info.Result.(types.ManagedObjectReference)
	hs := &hostState{name: h.Name, host: simulator.Map.Get(ref).(*simulator.HostSystem), pmemCap: h.PMem, dc: dc}
	switch cr := simulator.Map.Get(*hs.host.Parent).(type) {
	case *simulator.ClusterComputeResource:
		hs.pool, hs.envb = *cr.ResourcePool, *cr.EnvironmentBrowser
	case *mo.ComputeResource:
		hs.pool, hs.envb = *cr.ResourcePool, *cr.EnvironmentBrowser
	}
	estate.hosts[dc.hostKey(h.Name)] = hs
	estate.hostByRef[ref] = hs
	return nil
}

// configureHA sets a cluster's dasConfig and its hosts' PMem reserve.
func configureHA(ref types.ManagedObjectReference, cs *ClusterSpec, dc *dcState) {
	cl := simulator.Map.Get(ref).(*simulator.ClusterComputeResource)
	das, percent := haDasConfig(cs.HA, len(cs.Hosts))
	cfg := cl.ConfigurationEx.(*types.ClusterConfigInfoEx)
	cfg.DasConfig = das
	for _, h := range cs.Hosts {
		dc.host(h.Name).haPMemPercent = percent
	}
}

func buildVMs(ctx context.Context, c *vim25.Client, dc *dcState, spec *DatacenterSpec) error {
	folderCache := map[string]types.ManagedObjectReference{"": dc.vmFolder}
	for _, v := range spec.VMs {
		parent, err := vmFolderFor(ctx, c, dc, folderCache, v.Folder)
		if err != nil {
			return err
		}
		vm, err := loadVM(dc, v, parent)
		if err != nil {
			return fmt.Errorf("%s: VM %s: %v", v.where, v.Name, err)
		}
		if len(v.Attributes) > 0 {
			attributed = append(attributed, attributedVM{vm, v.Attributes})
		}
	}
	return nil
}

// vmFolderFor returns (creating as needed) the VM folder "a/b" under the
// datacenter's vm folder.
func vmFolderFor(ctx context.Context, c *vim25.Client, dc *dcState, cache map[string]types.ManagedObjectReference, path string) (types.ManagedObjectReference, error) {
	if ref, ok := cache[path]; ok {
		return ref, nil
	}
	parent := dc.vmFolder
	cur := ""
	for _, part := range strings.Split(path, "/") {
		if part == "" {
			continue
		}
		cur = strings.TrimPrefix(cur+"/"+part, "/")
		if ref, ok := cache[cur]; ok {
			parent = ref
			continue
		}
		f, err := object.NewFolder(c, parent).CreateFolder(ctx, part)
		if err != nil {
			return parent, fmt.Errorf("folder %s: %v", cur, err)
		}
		parent = f.Reference()
		cache[cur] = parent
	}
	cache[path] = parent
	return parent, nil
}

// createDatastore creates one Datastore object mounted on every given host.
func createDatastore(ctx context.Context, c *vim25.Client, dc *dcState, name, typ string, capacity int64, hosts []*hostState, pmemHost *hostState) (*PDatastore, error) {
	dir := filepath.Join(dc.tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dss := object.NewHostDatastoreSystem(c, *hosts[0].host.ConfigManager.DatastoreSystem)
	obj, err := dss.CreateLocalDatastore(ctx, name, dir)
	if err != nil {
		return nil, err
	}
	orig := simulator.Map.Get(obj.Reference()).(*simulator.Datastore)
	ds := &PDatastore{Datastore: *orig, pmemHost: pmemHost}
	rekeyDatastore(ds, hosts[0], dc)

	id := dsUUID(dc.seed(name))
	url := fmt.Sprintf("ds:///vmfs/volumes/%s/", id)
	base := types.DatastoreInfo{Name: name, Url: dir, FreeSpace: capacity, MaxFileSize: capacity,
		MaxVirtualDiskCapacity: capacity, MaxMemoryFileSize: capacity, ContainerId: id}
	vol := types.HostFileSystemVolume{Type: typ, Name: name, Capacity: capacity}
	switch typ {
	case "VMFS":
		ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: base, MaxPhysicalRDMFileSize: capacity, MaxVirtualRDMFileSize: capacity,
			Vmfs: &types.HostVmfsVolume{HostFileSystemVolume: vol, BlockSizeMb: 1, BlockSize: 1024, MaxBlocks: 63963136,
				MajorVersion: 6, Version: "6.82", Uuid: id, Local: types.NewBool(false), Ssd: types.NewBool(true)}}
	case "NFS", "NFS41", "CIFS":
		ds.Info = &types.NasDatastoreInfo{DatastoreInfo: base, Nas: &types.HostNasVolume{HostFileSystemVolume: vol,
			RemoteHost: "nas.pmemsim.local", RemotePath: "/export/" + name}}
	case "vsan":
		ds.Info = &types.VsanDatastoreInfo{DatastoreInfo: base, MembershipUuid: id}
	case "PMEM":
		ds.Info = &types.PMemDatastoreInfo{DatastoreInfo: base, Pmem: types.HostPMemVolume{HostFileSystemVolume: vol,
			Uuid: pmemHost.pmemUUID, Version: "1.0"}}
	default:
		ds.Info = &base
	}
	// Clients see the datastore URL vCenter style; vcsim only needs Url for
	// its /folder file access, which pmemsim does not support.
	ds.Info.GetDatastoreInfo().Url = url
	ds.Summary.Url = url
	ds.Summary.Type = typ
	ds.Summary.Capacity = capacity
	ds.Summary.FreeSpace = capacity
	ds.Summary.MultipleHostAccess = types.NewBool(len(hosts) > 1)
	ds.Summary.Uncommitted = 0

	for _, h := range hosts[1:] {
		mountDatastore(ds, h, id)
	}
	dc.datastores[name] = ds
	return ds, nil
}

// mountDatastore adds the datastore to a host the way vcsim's
// HostDatastoreSystem.add does, without creating a second Datastore object.
func mountDatastore(ds *PDatastore, h *hostState, id string) {
	ds.Host = append(ds.Host, types.DatastoreHostMount{
		Key: h.ref(),
		MountInfo: types.HostMountInfo{
			Path:       "/vmfs/volumes/" + id,
			AccessMode: string(types.HostMountModeReadWrite),
			Mounted:    types.NewBool(true),
			Accessible: types.NewBool(true),
		},
	})
	dss := simulator.Map.Get(*h.host.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
	dss.Datastore = append(dss.Datastore, ds.Self)
	h.host.Datastore = dss.Datastore
	switch cr := simulator.Map.Get(*h.host.Parent).(type) {
	case *simulator.ClusterComputeResource:
		simulator.Map.AddReference(cr, &cr.Datastore, ds.Self)
	case *mo.ComputeResource:
		simulator.Map.AddReference(cr, &cr.Datastore, ds.Self)
	}
}

// dsUUID is a stable VMFS-style id for a datastore name.
func dsUUID(name string) string {
	s := sha1.Sum([]byte("pmemsim-ds/" + name))
	return fmt.Sprintf("%x-%x-%x-%x", s[0:4], s[4:8], s[8:10], s[10:16])
}

// stableUUID derives a stable RFC 4122 UUID from a name, so that PMem
// datastore names and VM uuids are the same on every run.
func stableUUID(kind, name string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("pmemsim/"+kind+"/"+name)).String()
}

// setupHostPMem gives a host its PMem properties and, when it has PMem, its
// PMemDS-<uuid> datastore mounted only on that host.
func setupHostPMem(ctx context.Context, c *vim25.Client, dc *dcState, h *hostState) error {
	hs := h.host
	capab := types.HostCapability{}
	if hs.Capability != nil {
		capab = *hs.Capability
	}
	// A real ESXi 8.0.3 without PMem reports pMemSupported=true, 0 MB
	// available and no persistentMemoryInfo (pyVmomi's recorded
	// tests/fixtures/test_json_host_explode.yaml).
	capab.PMemSupported = types.NewBool(true)
	capab.PMemSnapshotSupported = types.NewBool(false)
	hs.Capability = &capab
	if h.pmemCap == 0 {
		return nil
	}
	h.pmemUUID = stableUUID("pmem", dc.seed(h.name))
	ds, err := createDatastore(ctx, c, dc, "PMemDS-"+h.pmemUUID, "PMEM", h.pmemCap, []*hostState{h}, h)
	if err != nil {
		return err
	}
	h.pmemDS = ds
	ds.Summary.MultipleHostAccess = types.NewBool(false)
	ds.Capability.PerFileThinProvisioningSupported = false
	ds.Capability.VmdkExpandSupported = types.NewBool(false)
	hw := *hs.Hardware
	hw.PersistentMemoryInfo = &types.HostPersistentMemoryInfo{CapacityInMB: h.pmemCap >> 20, VolumeUUID: h.pmemUUID}
	hs.Hardware = &hw
	hs.Summary.QuickStats.AvailablePMemCapacity = int32(h.pmemCap >> 20)
	return nil
}

// rekeyDatastore gives a new datastore a vCenter-style moref
// ("datastore-N") instead of vcsim's "<local path>@<folder>", replacing the
// old reference wherever vcsim's CreateLocalDatastore recorded it.
func rekeyDatastore(ds *PDatastore, h *hostState, dc *dcState) {
	old := ds.Self
	estate.dsSeq++
	ds.Self = types.ManagedObjectReference{Type: "Datastore", Value: fmt.Sprintf("datastore-%d", estate.dsSeq)}
	ds.Summary.Datastore = &ds.Self
	simulator.Map.Remove(old)
	simulator.Map.Put(ds)
	swap := func(refs []types.ManagedObjectReference) {
		for i := range refs {
			if refs[i] == old {
				refs[i] = ds.Self
			}
		}
	}
	dss := simulator.Map.Get(*h.host.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
	swap(dss.Datastore)
	swap(h.host.Datastore)
	switch cr := simulator.Map.Get(*h.host.Parent).(type) {
	case *simulator.ClusterComputeResource:
		swap(cr.Datastore)
	case *mo.ComputeResource:
		swap(cr.Datastore)
	}
	swap(dc.dc.Datastore)
	if f, ok := simulator.Map.Get(*ds.Parent).(*simulator.Folder); ok {
		swap(f.ChildEntity)
	}
	if b, ok := simulator.Map.Get(ds.Browser).(*simulator.HostDatastoreBrowser); ok {
		swap(b.Datastore)
	}
}
