package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// PFolder wraps the VM folders (the datacenter's vmFolder and every folder
// below it) so that CreateVM_Task creates pmemsim VMs. It embeds vcsim's
// Folder by value (PropertyCollector and ContainerView reach mo.Folder
// through it); every other method is vcsim's.
type PFolder struct {
	simulator.Folder
}

func (f *PFolder) Get() mo.Reference { return &f.Folder }

var folderSeq int64

// wrapVMFolders replaces the datacenter's VM folder tree with PFolders.
func wrapVMFolders(root types.ManagedObjectReference) {
	var wrap func(ref types.ManagedObjectReference)
	wrap = func(ref types.ManagedObjectReference) {
		f, ok := simulator.Map.Get(ref).(*simulator.Folder)
		if !ok {
			return
		}
		pf := &PFolder{Folder: *f}
		simulator.Map.Put(pf)
		for _, c := range pf.ChildEntity {
			if c.Type == "Folder" {
				wrap(c)
			}
		}
	}
	wrap(root)
}

func soapFault(msg string, f types.BaseMethodFault) *soap.Fault { return simulator.Fault(msg, f) }

// CreateFolder creates a PFolder (vcsim's would create a plain Folder on
// which CreateVM_Task would run vcsim's file-writing code).
func (f *PFolder) CreateFolder(ctx *simulator.Context, c *types.CreateFolder) soap.HasFault {
	r := &methods.CreateFolderBody{}
	estate.mu.Lock() // folder children change under estate.mu (see createVM, unregister)
	defer estate.mu.Unlock()
	if c.Name == "" {
		r.Fault_ = soapFault("folder name is empty", &types.InvalidName{Name: c.Name, Entity: &f.Self})
		return r
	}
	name := escapeName(c.Name) // vCenter stores "/", "\" and "%" escaped
	if obj := simulator.Map.FindByName(name, f.ChildEntity); obj != nil {
		r.Fault_ = soapFault("", &types.DuplicateName{Name: name, Object: obj.Reference()})
		return r
	}
	nf := &PFolder{}
	nf.Name = name
	nf.ChildType = append([]string(nil), f.ChildType...)
	nf.Self = types.ManagedObjectReference{Type: "Folder", Value: fmt.Sprintf("group-v%d", estate.nextID())}
	f.ChildEntity = append(f.ChildEntity, nf.Self)
	simulator.Map.PutEntity(f, nf)
	simulator.Map.Update(f, []types.PropertyChange{{Name: "childEntity", Val: f.ChildEntity}})
	r.Res = &types.CreateFolderResponse{Returnval: nf.Self}
	return r
}

// DestroyTask removes an empty VM folder. vcsim's version asserts that the
// parent is a plain *simulator.Folder (it panics on a PFolder) and skips
// pmemsim VMs; pmemsim refuses non-empty folders instead (guess: vCenter
// destroys the contents recursively).
func (f *PFolder) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	ref := submitTaskFor(nil, f.Self, f.Name, "", "Destroy_Task", "destroy", nil, func(j *job) (types.AnyType, *taskFault) {
		if f.Parent == nil || f.Parent.Type != "Folder" {
			return nil, newFault(&types.NotSupported{}, "the datacenter's VM folder cannot be destroyed")
		}
		estate.mu.Lock()
		defer estate.mu.Unlock()
		if len(f.ChildEntity) > 0 {
			return nil, newFault(&types.ResourceInUse{Type: "Folder", Name: f.Name},
				"folder %s is not empty (%d children): pmemsim destroys empty folders only", f.Name, len(f.ChildEntity))
		}
		if p, ok := simulator.Map.Get(*f.Parent).(*PFolder); ok {
			simulator.Map.WithLock(p, func() {
				simulator.RemoveReference(&p.ChildEntity, f.Self)
				simulator.Map.Update(p, []types.PropertyChange{{Name: "childEntity", Val: p.ChildEntity}})
			})
		}
		simulator.Map.Remove(f.Self)
		return nil, nil
	})
	return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: ref}}
}

// MoveIntoFolderTask moves VMs and folders between VM folders (vcsim's
// version refuses children of a PFolder).
func (f *PFolder) MoveIntoFolderTask(ctx *simulator.Context, req *types.MoveIntoFolder_Task) soap.HasFault {
	for _, ref := range req.List {
		if simulator.Map.Get(ref) == nil {
			return &methods.MoveIntoFolder_TaskBody{Fault_: soapFault("", &types.ManagedObjectNotFound{Obj: ref})}
		}
	}
	list := append([]types.ManagedObjectReference(nil), req.List...)
	ref := submitTaskFor(nil, f.Self, f.Name, "", "MoveIntoFolder_Task", "moveIntoFolder", nil, func(j *job) (types.AnyType, *taskFault) {
		estate.mu.Lock()
		defer estate.mu.Unlock()
		for _, r := range list {
			if r.Type != "VirtualMachine" && r.Type != "Folder" {
				return nil, newFault(&types.NotSupported{}, "a VM folder holds VMs and folders, not %s", r.Type)
			}
			e, ok := simulator.Map.Get(r).(mo.Entity)
			if !ok {
				return nil, newFault(&types.ManagedObjectNotFound{Obj: r}, "%s no longer exists", r.Value)
			}
			if r == f.Self {
				return nil, newFault(&types.InvalidArgument{InvalidProperty: "list"}, "a folder cannot be moved into itself")
			}
			parent := e.Entity().Parent
			if parent == nil {
				return nil, newFault(&types.NotSupported{}, "%s has no parent folder", r.Value)
			}
			old, ok := simulator.Map.Get(*parent).(*PFolder)
			if !ok {
				return nil, newFault(&types.NotSupported{}, "%s is not in a VM folder", r.Value)
			}
			if old == f {
				continue
			}
			simulator.RemoveReference(&old.ChildEntity, r)
			simulator.Map.Update(old, []types.PropertyChange{{Name: "childEntity", Val: old.ChildEntity}})
			f.ChildEntity = append(f.ChildEntity, r)
			simulator.Map.Update(f, []types.PropertyChange{{Name: "childEntity", Val: f.ChildEntity}})
			simulator.Map.Update(e, []types.PropertyChange{{Name: "parent", Val: f.Self}})
		}
		return nil, nil
	})
	return &methods.MoveIntoFolder_TaskBody{Res: &types.MoveIntoFolder_TaskResponse{Returnval: ref}}
}

// PSearchIndex answers FindChild / FindByInventoryPath for PFolders (vcsim's
// type switch only knows *simulator.Folder).
type PSearchIndex struct {
	simulator.SearchIndex
}

func (s *PSearchIndex) Get() mo.Reference { return &s.SearchIndex }

func wrapSearchIndex() {
	ref := *simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance).Content.SearchIndex
	if si, ok := simulator.Map.Get(ref).(*simulator.SearchIndex); ok {
		simulator.Map.Put(&PSearchIndex{SearchIndex: *si})
	}
}

func (s *PSearchIndex) FindChild(req *types.FindChild) soap.HasFault {
	if f, ok := simulator.Map.Get(req.Entity).(*PFolder); ok {
		body := &methods.FindChildBody{Res: &types.FindChildResponse{}}
		if m := simulator.Map.FindByName(req.Name, f.ChildEntity); m != nil {
			ref := m.Reference()
			body.Res.Returnval = &ref
		}
		return body
	}
	return s.SearchIndex.FindChild(req)
}

func (s *PSearchIndex) FindByInventoryPath(req *types.FindByInventoryPath) soap.HasFault {
	body := &methods.FindByInventoryPathBody{Res: &types.FindByInventoryPathResponse{}}
	path := strings.FieldsFunc(req.InventoryPath, func(c rune) bool { return c == '/' })
	if len(path) == 0 {
		return body
	}
	o := &simulator.Map.Get(types.ManagedObjectReference{Type: "ServiceInstance", Value: "ServiceInstance"}).(*simulator.ServiceInstance).Content.RootFolder
	for _, name := range path {
		o = s.FindChild(&types.FindChild{Entity: *o, Name: name}).(*methods.FindChildBody).Res.Returnval
		if o == nil {
			break
		}
	}
	body.Res.Returnval = o
	return body
}

// CreateVMTask creates a pmemsim VM. Morefs that do not exist are SOAP
// faults (ManagedObjectNotFound), as vCenter checks arguments before the
// call; everything else is validated when the task runs and refused with a
// task error, leaving no VM behind.
func (f *PFolder) CreateVMTask(ctx *simulator.Context, req *types.CreateVM_Task) soap.HasFault {
	if simulator.Map.Get(req.Pool) == nil {
		return &methods.CreateVM_TaskBody{Fault_: soapFault("", &types.ManagedObjectNotFound{Obj: req.Pool})}
	}
	if req.Host != nil && estate.hostByRef[*req.Host] == nil {
		return &methods.CreateVM_TaskBody{Fault_: soapFault("", &types.ManagedObjectNotFound{Obj: *req.Host})}
	}
	spec := req.Config
	pool := req.Pool
	host := req.Host
	ref := submitTaskFor(nil, f.Self, f.Name, spec.Name, "CreateVM_Task", "createVm", nil, func(j *job) (types.AnyType, *taskFault) {
		if tf := j.work(quickTaskTime); tf != nil {
			return nil, tf
		}
		estate.mu.Lock()
		defer estate.mu.Unlock()
		vm, tf := f.createVM(&spec, pool, host)
		if tf != nil {
			return nil, tf
		}
		return vm.Self, nil
	})
	return &methods.CreateVM_TaskBody{Res: &types.CreateVM_TaskResponse{Returnval: ref}}
}

// defaultHWVersion is the hardware version a new VM gets without
// config.version: the default of the ESXi release matching --api-version.
func defaultHWVersion() int {
	v := estate.apiVersion
	switch {
	case strings.HasPrefix(v, "6.5"):
		return 13
	case strings.HasPrefix(v, "6.7"):
		return 14
	case strings.HasPrefix(v, "7.0.0"), strings.HasPrefix(v, "7.0.1"):
		return 17
	case strings.HasPrefix(v, "7.0.2"):
		return 18
	case strings.HasPrefix(v, "7.0"):
		return 19
	case strings.HasPrefix(v, "8.0.0"), strings.HasPrefix(v, "8.0.1"):
		return 20
	}
	return 21
}

func specNeedsPMem(spec *types.VirtualMachineConfigSpec) bool {
	for _, ch := range spec.DeviceChange {
		dc := ch.GetVirtualDeviceConfigSpec()
		switch d := dc.Device.(type) {
		case *types.VirtualNVDIMM:
			return true
		case *types.VirtualDisk:
			if _, ok := d.Backing.(*types.VirtualDiskLocalPMemBackingInfo); ok || hasPMemProfile(dc.Profile) {
				return true
			}
		}
	}
	return false
}

// newVMRef picks a free vCenter-style VM moref.
func newVMRef() types.ManagedObjectReference {
	for {
		ref := types.ManagedObjectReference{Type: "VirtualMachine", Value: fmt.Sprintf("vm-%d", estate.nextID())}
		if simulator.Map.Get(ref) == nil {
			return ref
		}
	}
}

// createVM validates the ConfigSpec, builds the VM, applies the device
// changes with the ReconfigVM_Task code and registers it. Callers hold estate.mu.
func (f *PFolder) createVM(spec *types.VirtualMachineConfigSpec, poolRef types.ManagedObjectReference, hostRef *types.ManagedObjectReference) (*PVM, *taskFault) {
	bad := func(prop, format string, a ...interface{}) *taskFault {
		return newFault(&types.InvalidArgument{InvalidProperty: prop}, format, a...)
	}
	name := spec.Name
	if name == "" {
		return nil, bad("config.name", "config.name is required")
	}
	name = escapeName(name)
	if other := childNamed(&f.Folder, name); other != nil {
		return nil, newFault(&types.DuplicateName{Name: name, Object: *other}, "The name '%s' already exists.", name)
	}
	guestID := spec.GuestId
	if guestID == "" {
		guestID = "otherGuest"
	}
	if !knownGuestID(guestID) {
		return nil, bad("config.guestId", "unknown guest id %q", guestID)
	}
	hw := defaultHWVersion()
	if spec.Version != "" {
		if hw = parseHW(spec.Version); hw < 4 || hw > 30 || !strings.HasPrefix(spec.Version, "vmx-") {
			return nil, bad("config.version", "invalid hardware version %q (want vmx-N)", spec.Version)
		}
	}
	if spec.NumCPUs < 0 || spec.MemoryMB < 0 {
		return nil, bad("config", "negative memory or CPU count")
	}
	cpus, mem := spec.NumCPUs, int32(spec.MemoryMB)
	if cpus == 0 {
		cpus = 1
	}
	if mem == 0 {
		mem = 1024
	}

	// VM home
	if spec.Files == nil || strings.TrimSpace(spec.Files.VmPathName) == "" {
		return nil, bad("config.files.vmPathName", "config.files.vmPathName is required, e.g. \"[datastore1]\"")
	}
	var dp object.DatastorePath
	if !dp.FromString(strings.TrimSpace(spec.Files.VmPathName)) || dp.Datastore == "" {
		return nil, newFault(&types.InvalidDatastorePath{DatastorePath: spec.Files.VmPathName},
			"Invalid datastore path '%s'", spec.Files.VmPathName)
	}
	home := datastoreIn(dcOfEntity(f.Self), dp.Datastore)
	if home == nil {
		return nil, newFault(&types.InvalidDatastore{Name: dp.Datastore}, "Datastore %s not found", dp.Datastore)
	}
	if home.isPMem() {
		return nil, bad("config.files.vmPathName",
			"The virtual machine home (configuration files) cannot be placed on the PMem datastore %s", home.Name)
	}
	vmPath := strings.Trim(dp.Path, "/")
	switch {
	case vmPath == "":
		vmPath = name + "/" + name + ".vmx"
	case !strings.HasSuffix(vmPath, ".vmx"):
		vmPath = vmPath + "/" + name + ".vmx"
	}

	// compute resource and host
	var owner types.ManagedObjectReference
	switch p := simulator.Map.Get(poolRef).(type) {
	case *simulator.ResourcePool:
		owner = p.Owner
	default:
		return nil, bad("pool", "%s is not a resource pool", poolRef.Value)
	}
	var candidates []*hostState
	for _, h := range estate.hosts {
		if h.host.Parent != nil && *h.host.Parent == owner {
			candidates = append(candidates, h)
		}
	}
	sort.Slice(candidates, func(i, k int) bool { return candidates[i].name < candidates[k].name })
	var h *hostState
	if hostRef != nil {
		h = estate.hostByRef[*hostRef]
		if h == nil || h.host.Parent == nil || *h.host.Parent != owner {
			return nil, bad("host", "host %s is not in the compute resource of pool %s", hostRef.Value, poolRef.Value)
		}
	} else {
		// No host given: the first host (by name) of the pool's compute
		// resource that mounts the home datastore (and has PMem if the spec
		// needs it), standing in for DRS placement.
		needPMem := specNeedsPMem(spec)
		for _, c := range candidates {
			if c.reaches(home) && (!needPMem || c.pmemDS != nil) {
				h = c
				break
			}
		}
		if h == nil {
			for _, c := range candidates {
				if c.reaches(home) {
					h = c
					break
				}
			}
		}
		if h == nil {
			if len(candidates) == 0 {
				return nil, bad("pool", "the compute resource of pool %s has no hosts", poolRef.Value)
			}
			return nil, newFault(&types.InvalidDatastore{Datastore: &home.Self, Name: home.Name},
				"Datastore %s is not accessible from any host of the pool's compute resource", home.Name)
		}
	}
	if !h.reaches(home) {
		return nil, newFault(&types.InvalidDatastore{Datastore: &home.Self, Name: home.Name},
			"Datastore %s is not accessible from host %s", home.Name, h.name)
	}

	tools := true
	for _, ov := range spec.ExtraConfig {
		if o := ov.GetOptionValue(); o.Key == "pmemsim.tools" {
			if s, ok := o.Value.(string); ok && strings.EqualFold(s, "false") {
				tools = false
			}
		}
	}
	// A new VM has the devices every VM has, but no disk controller: the
	// spec adds its controllers.
	devs := defaultDevices()
	devs = devs[:len(devs)-1]
	pci := devs[3].(*types.VirtualPCIController)
	pci.Device = []int32{500, 12000}
	vmUUID, instUUID := spec.Uuid, spec.InstanceUuid
	if vmUUID == "" {
		vmUUID = uuid.New().String()
	}
	if instUUID == "" {
		instUUID = uuid.New().String()
	}
	vm := newVMObject(vmParams{name: name, guestID: guestID, version: fmt.Sprintf("vmx-%02d", hw), cpus: cpus, memoryMB: mem,
		tools: tools, host: h, home: home, vmPathName: fmt.Sprintf("[%s] %s", home.Name, vmPath), folder: f.Self, pool: poolRef,
		uuid: vmUUID, instanceUUID: instUUID, firmware: spec.Firmware, devices: devs})
	vm.Self = newVMRef()
	vm.Summary.Vm = &vm.Self

	// Devices and the remaining fields go through the ReconfigVM_Task code.
	// The VM is not registered yet: a refusal leaves nothing behind.
	rs := *spec
	rs.Name, rs.Version, rs.Files = "", "", nil
	if tf := vm.reconfigure(&rs); tf != nil {
		return nil, tf
	}

	// register: parent folder, host, pool first, so that ContainerViews
	// see the VM when it is put into the registry
	f.ChildEntity = append(f.ChildEntity, vm.Self)
	simulator.Map.Update(f, []types.PropertyChange{{Name: "childEntity", Val: f.ChildEntity}})
	h.host.Vm = append(h.host.Vm, vm.Self)
	simulator.Map.Update(h.host, []types.PropertyChange{{Name: "vm", Val: h.host.Vm}})
	if p, ok := simulator.Map.Get(poolRef).(*simulator.ResourcePool); ok {
		simulator.Map.WithLock(p, func() {
			p.Vm = append(p.Vm, vm.Self)
			simulator.Map.Update(p, []types.PropertyChange{{Name: "vm", Val: p.Vm}})
		})
	}
	simulator.Map.Put(vm)
	estate.vms[vm.Self] = vm
	vm.setPower(types.VirtualMachinePowerStatePoweredOff)
	return vm, nil
}
