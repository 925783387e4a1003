package main

import (
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"gopkg.in/yaml.v3"
)

//go:embed demo.yaml
var demoInventory string

// Inventory is the estate to simulate, as read from the YAML file.
type Inventory struct {
	Datacenters []*DatacenterSpec
}

// DatacenterSpec is one datacenter; names are escaped (escapeName).
type DatacenterSpec struct {
	Name       string
	Clusters   []*ClusterSpec
	Hosts      []*HostSpec // every host, cluster hosts first
	Datastores []*DatastoreSpec
	VMs        []*VMSpec
	index      int // position in datacenters:, 0 for the single form
	where      string
}

type ClusterSpec struct {
	Name  string
	Hosts []*HostSpec
	HA    *HASpec // nil: HA admission control not configured
}

type HostSpec struct {
	Name    string
	Cluster string // "" for standalone hosts
	PMem    int64  // bytes; 0 = no PMem
	where   string
}

type DatastoreSpec struct {
	Name     string
	Type     string
	Capacity int64
	Hosts    []string // nil = every host
	Local    bool     // a host's local datastore (local_datastores:)
	where    string
}

type DiskSpec struct {
	Size      int64
	Datastore string // a datastore name, or "pmem" for the host's PMem datastore
}

type VMSpec struct {
	Name      string
	Host      string
	Folder    string
	HWVersion int
	GuestID   string
	Power     string
	Tools     bool
	CPUs      int32
	MemoryMB  int32
	Home      string // datastore holding the VM home (.vmx); never PMem
	Disks     []DiskSpec
	NVDIMMs   []int64 // bytes
	Snapshots int
	// Attributes are vCenter custom attributes (CustomFieldsManager fields on
	// VirtualMachine) and their values, in the order written.
	Attributes [][2]string
	where      string
}

// invError is an inventory error pointing at FILE:LINE and the key path.
type invError struct {
	file string
	line int
	path string
	msg  string
}

func (e *invError) Error() string {
	if e.path == "" {
		return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.file, e.line, e.path, e.msg)
}

// reader walks the yaml.Node tree so that every error has a line number and
// unknown keys are rejected (the strictness of KnownFields, with positions).
type reader struct{ file string }

func (r *reader) errf(n *yaml.Node, path, format string, a ...interface{}) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &invError{file: r.file, line: line, path: path, msg: fmt.Sprintf(format, a...)}
}

// mapping returns key -> (key node, value node) after checking the allowed keys.
func (r *reader) mapping(n *yaml.Node, path string, allowed ...string) (map[string][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, r.errf(n, path, "want a mapping")
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	out := map[string][2]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := joinPath(path, k.Value)
		if !ok[k.Value] {
			return nil, r.errf(k, kp, "unknown key (allowed: %s)", strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, r.errf(k, kp, "duplicate key")
		}
		out[k.Value] = [2]*yaml.Node{k, v}
	}
	return out, nil
}

// attributes reads a mapping of custom attribute name to value (both strings).
func (r *reader) attributes(n *yaml.Node, path string) ([][2]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, r.errf(n, path, "want a mapping of attribute name to value")
	}
	var out [][2]string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, err := r.str(k, path)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, r.errf(k, joinPath(path, name), "duplicate key")
		}
		seen[name] = true
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, r.errf(v, joinPath(path, name), "want a string value")
		}
		out = append(out, [2]string{name, v.Value})
	}
	return out, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (r *reader) str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		return "", r.errf(n, path, "want a non-empty string")
	}
	return n.Value, nil
}

func (r *reader) integer(n *yaml.Node, path string, min, max int) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, r.errf(n, path, "want an integer, got %q", n.Value)
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < min || v > max {
		return 0, r.errf(n, path, "want an integer from %d to %d, got %q", min, max, n.Value)
	}
	return v, nil
}

func (r *reader) boolean(n *yaml.Node, path string) (bool, error) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		return false, r.errf(n, path, "want true or false, got %q", n.Value)
	}
	return b, nil
}

func (r *reader) size(n *yaml.Node, path string) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, r.errf(n, path, "want a size such as 40GiB")
	}
	b, err := parseSize(n.Value)
	if err != nil {
		return 0, r.errf(n, path, "%v", err)
	}
	return b, nil
}

func (r *reader) seq(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, r.errf(n, path, "want a list")
	}
	return n.Content, nil
}

// loadInventory parses and validates an inventory document: either the
// single-datacenter form (datacenter:, clusters:, hosts:, datastores:, vms:,
// generate: at the top) or a datacenters: list, each entry with its own
// clusters, hosts, datastores and vms.
func loadInventory(file string, data []byte) (*Inventory, error) {
	r := &reader{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 messages already carry "line N"
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &invError{file: file, line: 1, msg: "empty inventory"}
	}
	root := doc.Content[0]
	top, err := r.mapping(root, "", "datacenter", "datacenters", "clusters", "hosts", "datastores", "vms", "generate", "local_datastores")
	if err != nil {
		return nil, err
	}
	inv := &Inventory{}
	kv, multi := top["datacenters"]
	if !multi {
		dc, err := r.readDatacenter(top, "", "", root)
		if err != nil {
			return nil, err
		}
		inv.Datacenters = []*DatacenterSpec{dc}
		return inv, nil
	}
	for _, k := range []string{"datacenter", "clusters", "hosts", "datastores", "vms", "generate", "local_datastores"} {
		if other, ok := top[k]; ok {
			return nil, r.errf(other[0], k, "not allowed with datacenters: (put it in a datacenters[] entry; generate: needs the single-datacenter form)")
		}
	}
	items, err := r.seq(kv[1], "datacenters")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, r.errf(kv[1], "datacenters", "want at least one datacenter")
	}
	seen := map[string]string{}
	for i, n := range items {
		path := fmt.Sprintf("datacenters[%d]", i)
		m, err := r.mapping(n, path, "name", "clusters", "hosts", "datastores", "vms", "local_datastores")
		if err != nil {
			return nil, err
		}
		if _, ok := m["name"]; !ok {
			return nil, r.errf(n, path+".name", "missing key")
		}
		dc, err := r.readDatacenter(m, path+".", path+".name", n)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[dc.Name]; dup {
			return nil, r.errf(m["name"][1], path+".name", "duplicate datacenter name %q (first defined at %s)", dc.Name, prev)
		}
		seen[dc.Name] = fmt.Sprintf("%s:%d", file, n.Line)
		dc.index = i
		inv.Datacenters = append(inv.Datacenters, dc)
	}
	return inv, nil
}

// dcLoader holds one datacenter's name spaces and space accounting while
// it is read. vCenter scopes names per datacenter: hosts and clusters share
// the host folder's name space, datastores are "uniquely named within the
// datacenter", VMs are unique per folder.
type dcLoader struct {
	r          *reader
	dc         *DatacenterSpec
	prefix     string               // key path prefix: "" or "datacenters[N]."
	names      map[string]string    // host/cluster name -> where first defined
	hostByName map[string]*HostSpec // escaped name
	dsByName   map[string]*DatastoreSpec
	vmNames    map[string]bool // folder + "\x00" + name
	dsUsed     map[string]int64
	pmemUsed   map[string]int64
}

// readDatacenter reads one datacenter's keys (m), whatever form they come in.
func (r *reader) readDatacenter(m map[string][2]*yaml.Node, prefix, nameKey string, node *yaml.Node) (*DatacenterSpec, error) {
	l := &dcLoader{r: r, dc: &DatacenterSpec{Name: "DC0", where: fmt.Sprintf("%s:%d", r.file, node.Line)}, prefix: prefix,
		names: map[string]string{}, hostByName: map[string]*HostSpec{}, dsByName: map[string]*DatastoreSpec{},
		vmNames: map[string]bool{}, dsUsed: map[string]int64{}, pmemUsed: map[string]int64{}}
	if nameKey == "" {
		nameKey = "datacenter"
	}
	if kv, ok := m[strings.TrimPrefix(nameKey, prefix)]; ok {
		name, err := r.str(kv[1], nameKey)
		if err != nil {
			return nil, err
		}
		l.dc.Name = escapeName(name)
	}
	steps := []struct {
		key  string
		read func(*yaml.Node) error
	}{
		{"clusters", l.readClusters}, {"hosts", l.readStandaloneHosts},
	}
	for _, s := range steps {
		if kv, ok := m[s.key]; ok {
			if err := s.read(kv[1]); err != nil {
				return nil, err
			}
		}
	}
	var gen *genSpec
	if kv, ok := m["generate"]; ok {
		var err error
		if gen, err = r.readGenerate(kv[1]); err != nil {
			return nil, err
		}
		if err := gen.addHosts(l.dc, l.names, l.hostByName, r); err != nil {
			return nil, err
		}
	}
	if kv, ok := m["local_datastores"]; ok {
		if err := l.readLocalDatastores(kv[1]); err != nil {
			return nil, err
		}
	}
	if kv, ok := m["datastores"]; ok {
		if err := l.readDatastores(kv[1]); err != nil {
			return nil, err
		}
	}
	if gen != nil {
		if err := gen.addDatastores(l.dc, l.dsByName, r); err != nil {
			return nil, err
		}
	}
	if kv, ok := m["vms"]; ok {
		if err := l.readVMs(kv[1]); err != nil {
			return nil, err
		}
	}
	if gen != nil {
		if err := gen.addVMs(l.dc, l.vmNames, r); err != nil {
			return nil, err
		}
	}
	return l.dc, nil
}

func (l *dcLoader) p(path string) string { return l.prefix + path }

// name reads a required entity name and escapes it as vCenter does.
func (l *dcLoader) name(m map[string][2]*yaml.Node, n *yaml.Node, path string) (string, *yaml.Node, error) {
	kv, ok := m["name"]
	if !ok {
		return "", nil, l.r.errf(n, path+".name", "missing key")
	}
	s, err := l.r.str(kv[1], path+".name")
	if err != nil {
		return "", nil, err
	}
	return escapeName(s), kv[1], nil
}

func (l *dcLoader) readClusters(n *yaml.Node) error {
	items, err := l.r.seq(n, l.p("clusters"))
	if err != nil {
		return err
	}
	for i, cn := range items {
		path := l.p(fmt.Sprintf("clusters[%d]", i))
		m, err := l.r.mapping(cn, path, "name", "hosts", "ha")
		if err != nil {
			return err
		}
		name, nn, err := l.name(m, cn, path)
		if err != nil {
			return err
		}
		if prev, dup := l.names[name]; dup {
			return l.r.errf(nn, path+".name", "duplicate name %q (first defined at %s)", name, prev)
		}
		l.names[name] = fmt.Sprintf("%s:%d", l.r.file, cn.Line)
		c := &ClusterSpec{Name: name}
		if kv, ok := m["ha"]; ok {
			if c.HA, err = l.r.readHA(kv[1], path+".ha"); err != nil {
				return err
			}
		}
		if hk, ok := m["hosts"]; ok {
			hosts, err := l.r.seq(hk[1], path+".hosts")
			if err != nil {
				return err
			}
			for j, hn := range hosts {
				h, err := l.readHost(hn, fmt.Sprintf("%s.hosts[%d]", path, j), c.Name)
				if err != nil {
					return err
				}
				c.Hosts = append(c.Hosts, h)
				l.dc.Hosts = append(l.dc.Hosts, h)
			}
		}
		l.dc.Clusters = append(l.dc.Clusters, c)
	}
	return nil
}

func (l *dcLoader) readStandaloneHosts(n *yaml.Node) error {
	items, err := l.r.seq(n, l.p("hosts"))
	if err != nil {
		return err
	}
	for i, hn := range items {
		h, err := l.readHost(hn, l.p(fmt.Sprintf("hosts[%d]", i)), "")
		if err != nil {
			return err
		}
		l.dc.Hosts = append(l.dc.Hosts, h)
	}
	return nil
}

func (l *dcLoader) readHost(n *yaml.Node, path, cluster string) (*HostSpec, error) {
	m, err := l.r.mapping(n, path, "name", "pmem")
	if err != nil {
		return nil, err
	}
	h := &HostSpec{Cluster: cluster, where: fmt.Sprintf("%s:%d", l.r.file, n.Line)}
	var nn *yaml.Node
	if h.Name, nn, err = l.name(m, n, path); err != nil {
		return nil, err
	}
	if prev, dup := l.names[h.Name]; dup {
		return nil, l.r.errf(nn, path+".name", "duplicate name %q (first defined at %s)", h.Name, prev)
	}
	l.names[h.Name] = h.where
	if kv, ok := m["pmem"]; ok {
		if h.PMem, err = l.r.size(kv[1], path+".pmem"); err != nil {
			return nil, err
		}
	}
	l.hostByName[h.Name] = h
	return h, nil
}

// readLocalDatastores gives every host of the datacenter a local VMFS
// datastore, named as vCenter names them: datastore1, datastore1 (1), ...
func (l *dcLoader) readLocalDatastores(n *yaml.Node) error {
	path := l.p("local_datastores")
	var capacity int64
	if n.Tag == "!!bool" {
		on, err := l.r.boolean(n, path)
		if err != nil || !on {
			return err
		}
		capacity = defaultLocalDatastore
	} else {
		var err error
		if capacity, err = l.r.size(n, path); err != nil {
			return l.r.errf(n, path, "want true, false or a capacity such as 1TiB")
		}
	}
	for i, h := range l.dc.Hosts {
		name := "datastore1"
		if i > 0 {
			name = fmt.Sprintf("datastore1 (%d)", i)
		}
		d := &DatastoreSpec{Name: name, Type: "VMFS", Capacity: capacity, Hosts: []string{h.Name}, Local: true,
			where: fmt.Sprintf("%s:%d", l.r.file, n.Line)}
		l.dsByName[name] = d
		l.dc.Datastores = append(l.dc.Datastores, d)
	}
	return nil
}

// defaultLocalDatastore is the capacity of local_datastores: true.
const defaultLocalDatastore = 1 << 40

func (l *dcLoader) readDatastores(n *yaml.Node) error {
	items, err := l.r.seq(n, l.p("datastores"))
	if err != nil {
		return err
	}
	for i, dn := range items {
		path := l.p(fmt.Sprintf("datastores[%d]", i))
		m, err := l.r.mapping(dn, path, "name", "type", "capacity", "hosts")
		if err != nil {
			return err
		}
		d := &DatastoreSpec{Type: "VMFS", where: fmt.Sprintf("%s:%d", l.r.file, dn.Line)}
		var nn *yaml.Node
		if d.Name, nn, err = l.name(m, dn, path); err != nil {
			return err
		}
		if strings.EqualFold(d.Name, "pmem") || strings.HasPrefix(d.Name, "PMemDS-") {
			return l.r.errf(nn, path+".name", "%q is reserved for PMem datastores", d.Name)
		}
		if prev, dup := l.dsByName[d.Name]; dup {
			return l.r.errf(nn, path+".name", "duplicate datastore name %q in datacenter %s (first defined at %s)", d.Name, l.dc.Name, prev.where)
		}
		if tk, ok := m["type"]; ok {
			t, err := l.r.str(tk[1], path+".type")
			if err != nil {
				return err
			}
			if d.Type = canonicalDSType(t); d.Type == "" {
				return l.r.errf(tk[1], path+".type", "unknown datastore type %q (want VMFS, NFS, NFS41, vsan, VVOL, CIFS or VFFS; PMem datastores come from host pmem:)", t)
			}
		}
		ck, ok := m["capacity"]
		if !ok {
			return l.r.errf(dn, path+".capacity", "missing key")
		}
		if d.Capacity, err = l.r.size(ck[1], path+".capacity"); err != nil {
			return err
		}
		if hk, ok := m["hosts"]; ok {
			if d.Hosts, err = l.hostList(hk[1], path+".hosts"); err != nil {
				return err
			}
		}
		l.dsByName[d.Name] = d
		l.dc.Datastores = append(l.dc.Datastores, d)
	}
	return nil
}

func (l *dcLoader) hostList(n *yaml.Node, path string) ([]string, error) {
	hs, err := l.r.seq(n, path)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for j, hn := range hs {
		hp := fmt.Sprintf("%s[%d]", path, j)
		name, err := l.r.str(hn, hp)
		if err != nil {
			return nil, err
		}
		name = escapeName(name)
		if l.hostByName[name] == nil {
			return nil, l.r.errf(hn, hp, "unknown host %q in datacenter %s", name, l.dc.Name)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, l.r.errf(n, path, "want at least one host (leave the key out to mount on every host)")
	}
	return out, nil
}

func reach(ds *DatastoreSpec, host string) bool {
	if ds.Hosts == nil {
		return true
	}
	for _, h := range ds.Hosts {
		if h == host {
			return true
		}
	}
	return false
}

func (l *dcLoader) readVMs(n *yaml.Node) error {
	items, err := l.r.seq(n, l.p("vms"))
	if err != nil {
		return err
	}
	for i, vn := range items {
		vm, err := l.readVM(vn, l.p(fmt.Sprintf("vms[%d]", i)))
		if err != nil {
			return err
		}
		l.dc.VMs = append(l.dc.VMs, vm)
	}
	return nil
}

func (l *dcLoader) readVM(n *yaml.Node, path string) (*VMSpec, error) {
	r := l.r
	m, err := r.mapping(n, path, "name", "host", "folder", "hardware_version", "guest_id", "power",
		"disks", "nvdimms", "snapshots", "tools", "cpus", "memory", "home", "attributes")
	if err != nil {
		return nil, err
	}
	vm := &VMSpec{HWVersion: 14, GuestID: "otherGuest64", Power: "poweredOff", Tools: true, CPUs: 2, MemoryMB: 4096,
		where: fmt.Sprintf("%s:%d", r.file, n.Line)}
	var nn *yaml.Node
	if vm.Name, nn, err = l.name(m, n, path); err != nil {
		return nil, err
	}
	if kv, ok := m["folder"]; ok {
		f, err := r.str(kv[1], path+".folder")
		if err != nil {
			return nil, err
		}
		vm.Folder = escapeFolderPath(f)
	}
	if key := vm.Folder + "\x00" + vm.Name; l.vmNames[key] {
		return nil, r.errf(nn, path+".name", "duplicate VM name %q in folder %q of datacenter %s", vm.Name, vm.Folder, l.dc.Name)
	} else {
		l.vmNames[key] = true
	}
	hk, ok := m["host"]
	if !ok {
		return nil, r.errf(n, path+".host", "missing key")
	}
	if vm.Host, err = r.str(hk[1], path+".host"); err != nil {
		return nil, err
	}
	vm.Host = escapeName(vm.Host)
	host := l.hostByName[vm.Host]
	if host == nil {
		return nil, r.errf(hk[1], path+".host", "unknown host %q in datacenter %s", vm.Host, l.dc.Name)
	}
	if err := l.readVMScalars(m, path, vm); err != nil {
		return nil, err
	}
	if kv, ok := m["disks"]; ok {
		if err := l.readDisks(kv[1], path+".disks", vm, host); err != nil {
			return nil, err
		}
	}
	if err := l.readHome(m, n, path, vm, host); err != nil {
		return nil, err
	}
	if kv, ok := m["attributes"]; ok {
		if vm.Attributes, err = r.attributes(kv[1], path+".attributes"); err != nil {
			return nil, err
		}
	}
	if kv, ok := m["nvdimms"]; ok {
		if err := l.readNVDIMMs(kv[1], path+".nvdimms", vm, host); err != nil {
			return nil, err
		}
	}
	return vm, nil
}

// readVMScalars reads the optional scalar keys of a VM.
func (l *dcLoader) readVMScalars(m map[string][2]*yaml.Node, path string, vm *VMSpec) error {
	r := l.r
	var err error
	if kv, ok := m["hardware_version"]; ok {
		if vm.HWVersion, err = r.integer(kv[1], path+".hardware_version", 4, 30); err != nil {
			return err
		}
	}
	if kv, ok := m["guest_id"]; ok {
		if vm.GuestID, err = r.str(kv[1], path+".guest_id"); err != nil {
			return err
		}
		if !knownGuestID(vm.GuestID) {
			return r.errf(kv[1], path+".guest_id", "unknown guest id %q", vm.GuestID)
		}
	}
	if kv, ok := m["power"]; ok {
		if vm.Power, err = r.str(kv[1], path+".power"); err != nil {
			return err
		}
		if vm.Power != "poweredOn" && vm.Power != "poweredOff" {
			return r.errf(kv[1], path+".power", "unknown power state %q (want poweredOn or poweredOff)", vm.Power)
		}
	}
	if kv, ok := m["tools"]; ok {
		if vm.Tools, err = r.boolean(kv[1], path+".tools"); err != nil {
			return err
		}
	}
	if kv, ok := m["cpus"]; ok {
		c, err := r.integer(kv[1], path+".cpus", 1, 768)
		if err != nil {
			return err
		}
		vm.CPUs = int32(c)
	}
	if kv, ok := m["memory"]; ok {
		b, err := r.size(kv[1], path+".memory")
		if err != nil {
			return err
		}
		vm.MemoryMB = int32(b >> 20)
	}
	if kv, ok := m["snapshots"]; ok {
		if vm.Snapshots, err = r.integer(kv[1], path+".snapshots", 0, 32); err != nil {
			return err
		}
	}
	return nil
}

func (l *dcLoader) usePMem(host *HostSpec, b int64, n *yaml.Node, path string) error {
	l.pmemUsed[host.Name] += roundMiB(b)
	if l.pmemUsed[host.Name] > host.PMem {
		return l.r.errf(n, path, "host %s PMem over-committed (%d MiB used of %d MiB)", host.Name, l.pmemUsed[host.Name]>>20, host.PMem>>20)
	}
	return nil
}

func (l *dcLoader) readDisks(n *yaml.Node, path string, vm *VMSpec, host *HostSpec) error {
	r := l.r
	disks, err := r.seq(n, path)
	if err != nil {
		return err
	}
	for j, dn := range disks {
		dp := fmt.Sprintf("%s[%d]", path, j)
		dm, err := r.mapping(dn, dp, "size", "datastore")
		if err != nil {
			return err
		}
		var d DiskSpec
		sk, ok := dm["size"]
		if !ok {
			return r.errf(dn, dp+".size", "missing key")
		}
		if d.Size, err = r.size(sk[1], dp+".size"); err != nil {
			return err
		}
		dk, ok := dm["datastore"]
		if !ok {
			return r.errf(dn, dp+".datastore", "missing key")
		}
		if d.Datastore, err = r.str(dk[1], dp+".datastore"); err != nil {
			return err
		}
		if d.Datastore == "pmem" {
			if host.PMem == 0 {
				return r.errf(dk[1], dp+".datastore", "host %s has no PMem", host.Name)
			}
			if err := l.usePMem(host, d.Size, sk[1], dp+".size"); err != nil {
				return err
			}
		} else {
			d.Datastore = escapeName(d.Datastore)
			ds := l.dsByName[d.Datastore]
			if ds == nil {
				return r.errf(dk[1], dp+".datastore", "unknown datastore %q in datacenter %s", d.Datastore, l.dc.Name)
			}
			if !reach(ds, host.Name) {
				return r.errf(dk[1], dp+".datastore", "datastore %s is not mounted on host %s", ds.Name, host.Name)
			}
			l.dsUsed[ds.Name] += d.Size
			if l.dsUsed[ds.Name] > ds.Capacity {
				return r.errf(sk[1], dp+".size", "datastore %s over-committed", ds.Name)
			}
		}
		vm.Disks = append(vm.Disks, d)
	}
	return nil
}

// readHome sets the VM home: "home:" if given, else the first disk's
// datastore unless that is PMem, else the first non-PMem datastore (by
// name) the host mounts.
func (l *dcLoader) readHome(m map[string][2]*yaml.Node, n *yaml.Node, path string, vm *VMSpec, host *HostSpec) error {
	r := l.r
	if kv, ok := m["home"]; ok {
		home, err := r.str(kv[1], path+".home")
		if err != nil {
			return err
		}
		if home == "pmem" || strings.HasPrefix(home, "PMemDS-") {
			return r.errf(kv[1], path+".home", "the VM home cannot be on PMem")
		}
		vm.Home = escapeName(home)
		ds := l.dsByName[vm.Home]
		if ds == nil {
			return r.errf(kv[1], path+".home", "unknown datastore %q in datacenter %s", vm.Home, l.dc.Name)
		}
		if !reach(ds, host.Name) {
			return r.errf(kv[1], path+".home", "datastore %s is not mounted on host %s", ds.Name, host.Name)
		}
		return nil
	}
	if len(vm.Disks) > 0 && vm.Disks[0].Datastore != "pmem" {
		vm.Home = vm.Disks[0].Datastore
		return nil
	}
	for _, ds := range sortedDatastores(l.dc.Datastores) {
		if reach(ds, host.Name) {
			vm.Home = ds.Name
			return nil
		}
	}
	return r.errf(n, path, "host %s mounts no non-PMem datastore for the VM home (add a datastore mounted on it)", host.Name)
}

func (l *dcLoader) readNVDIMMs(n *yaml.Node, path string, vm *VMSpec, host *HostSpec) error {
	r := l.r
	nvs, err := r.seq(n, path)
	if err != nil {
		return err
	}
	for j, nv := range nvs {
		np := fmt.Sprintf("%s[%d]", path, j)
		b, err := r.size(nv, np)
		if err != nil {
			return err
		}
		if host.PMem == 0 {
			return r.errf(nv, np, "host %s has no PMem", host.Name)
		}
		if vm.HWVersion < 14 {
			return r.errf(nv, np, "NVDIMMs need hardware_version 14 or later")
		}
		if g := guestByID(vm.GuestID); g == nil || !g.pmem {
			return r.errf(nv, np, "guest %s does not support persistent memory", vm.GuestID)
		}
		if err := l.usePMem(host, b, nv, np); err != nil {
			return err
		}
		vm.NVDIMMs = append(vm.NVDIMMs, roundMiB(b))
	}
	if len(vm.NVDIMMs) > 64 {
		return r.errf(n, path, "at most 64 NVDIMMs per VM")
	}
	if len(vm.NVDIMMs) > 0 && vm.Snapshots > 0 {
		return r.errf(n, path, "a VM with NVDIMMs cannot have snapshots")
	}
	return nil
}

// escapeName escapes an entity name the way vCenter stores and returns it:
// "%" -> "%25", "/" -> "%2f", "\" -> "%5c" (vSphere Web Services
// Programming Guide, GUID-316D6B24). The inventory gives names raw.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2f")
		case '\\':
			b.WriteString("%5c")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// escapeFolderPath escapes each part of an inventory folder path "a/b"
// (the "/" separates folders).
func escapeFolderPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = escapeName(s)
	}
	return strings.Join(parts, "/")
}

// sortedDatastores returns the datastores ordered by name.
func sortedDatastores(dss []*DatastoreSpec) []*DatastoreSpec {
	out := append([]*DatastoreSpec(nil), dss...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func roundMiB(b int64) int64 { return (b + (1 << 20) - 1) >> 20 << 20 }

func canonicalDSType(t string) string {
	for _, k := range []string{"VMFS", "NFS", "NFS41", "CIFS", "vsan", "VVOL", "VFFS"} {
		if strings.EqualFold(k, t) {
			return k
		}
	}
	return ""
}

func knownGuestID(id string) bool {
	if guestByID(id) != nil {
		return true
	}
	for _, g := range simulator.GuestID {
		if string(g) == id {
			return true
		}
	}
	return false
}

// genSpec is the optional generate: section that builds a large estate.
type genSpec struct {
	Clusters, HostsPerCluster, VMsPerHost, DisksPerVM int
	PMemPerHost, DiskSize, DSCapacity                 int64
	HWVersion                                         int
	GuestID, Power                                    string
	node                                              *yaml.Node
	dsNames                                           []string
}

func (r *reader) readGenerate(n *yaml.Node) (*genSpec, error) {
	m, err := r.mapping(n, "generate", "clusters", "hosts_per_cluster", "vms_per_host", "pmem_per_host",
		"disks_per_vm", "disk_size", "datastore_capacity", "hardware_version", "guest_id", "power")
	if err != nil {
		return nil, err
	}
	g := &genSpec{Clusters: 1, HostsPerCluster: 1, VMsPerHost: 0, DisksPerVM: 1, DiskSize: 40 << 30,
		HWVersion: 14, GuestID: "rhel8_64Guest", Power: "poweredOn", node: n}
	ints := []struct {
		key      string
		dst      *int
		min, max int
	}{
		{"clusters", &g.Clusters, 1, 999}, {"hosts_per_cluster", &g.HostsPerCluster, 1, 999},
		{"vms_per_host", &g.VMsPerHost, 0, 9999}, {"disks_per_vm", &g.DisksPerVM, 1, 60},
		{"hardware_version", &g.HWVersion, 4, 30},
	}
	for _, it := range ints {
		if kv, ok := m[it.key]; ok {
			if *it.dst, err = r.integer(kv[1], "generate."+it.key, it.min, it.max); err != nil {
				return nil, err
			}
		}
	}
	sizes := []struct {
		key string
		dst *int64
	}{{"pmem_per_host", &g.PMemPerHost}, {"disk_size", &g.DiskSize}, {"datastore_capacity", &g.DSCapacity}}
	for _, it := range sizes {
		if kv, ok := m[it.key]; ok {
			if *it.dst, err = r.size(kv[1], "generate."+it.key); err != nil {
				return nil, err
			}
		}
	}
	if kv, ok := m["guest_id"]; ok {
		if g.GuestID, err = r.str(kv[1], "generate.guest_id"); err != nil {
			return nil, err
		}
		if !knownGuestID(g.GuestID) {
			return nil, r.errf(kv[1], "generate.guest_id", "unknown guest id %q", g.GuestID)
		}
	}
	if kv, ok := m["power"]; ok {
		if g.Power, err = r.str(kv[1], "generate.power"); err != nil {
			return nil, err
		}
		if g.Power != "poweredOn" && g.Power != "poweredOff" {
			return nil, r.errf(kv[1], "generate.power", "unknown power state %q (want poweredOn or poweredOff)", g.Power)
		}
	}
	return g, nil
}

func genCluster(c int) string   { return fmt.Sprintf("cluster-%02d", c) }
func genHost(c, h int) string   { return fmt.Sprintf("esx-c%02d-h%02d", c, h) }
func genDS(c int) string        { return fmt.Sprintf("san-c%02d", c) }
func genVM(c, h, v int) string  { return fmt.Sprintf("vm-c%02d-h%02d-%02d", c, h, v) }
func (g *genSpec) line() string { return fmt.Sprint(g.node.Line) }
func (g *genSpec) perDS() int64 {
	return int64(g.HostsPerCluster*g.VMsPerHost*g.DisksPerVM) * g.DiskSize
}
func (g *genSpec) dsCap() int64 {
	if g.DSCapacity > 0 {
		return g.DSCapacity
	}
	// room for the generated disks plus 50%, at least 1 TiB
	c := g.perDS() * 3 / 2
	if c < 1<<40 {
		c = 1 << 40
	}
	return c
}

func (g *genSpec) addHosts(inv *DatacenterSpec, names map[string]string, byName map[string]*HostSpec, r *reader) error {
	for c := 1; c <= g.Clusters; c++ {
		cs := &ClusterSpec{Name: genCluster(c)}
		if prev, dup := names[cs.Name]; dup {
			return r.errf(g.node, "generate", "generated cluster %q clashes with %s", cs.Name, prev)
		}
		names[cs.Name] = "generate"
		for h := 1; h <= g.HostsPerCluster; h++ {
			hs := &HostSpec{Name: genHost(c, h), Cluster: cs.Name, PMem: g.PMemPerHost, where: r.file + ":" + g.line()}
			if prev, dup := names[hs.Name]; dup {
				return r.errf(g.node, "generate", "generated host %q clashes with %s", hs.Name, prev)
			}
			names[hs.Name] = "generate"
			byName[hs.Name] = hs
			cs.Hosts = append(cs.Hosts, hs)
			inv.Hosts = append(inv.Hosts, hs)
		}
		inv.Clusters = append(inv.Clusters, cs)
	}
	return nil
}

func (g *genSpec) addDatastores(inv *DatacenterSpec, byName map[string]*DatastoreSpec, r *reader) error {
	for c := 1; c <= g.Clusters; c++ {
		d := &DatastoreSpec{Name: genDS(c), Type: "VMFS", Capacity: g.dsCap(), Hosts: []string{}, where: r.file + ":" + g.line()}
		if _, dup := byName[d.Name]; dup {
			return r.errf(g.node, "generate", "generated datastore %q clashes with datastores:", d.Name)
		}
		for h := 1; h <= g.HostsPerCluster; h++ {
			d.Hosts = append(d.Hosts, genHost(c, h))
		}
		byName[d.Name] = d
		inv.Datastores = append(inv.Datastores, d)
	}
	return nil
}

func (g *genSpec) addVMs(inv *DatacenterSpec, names map[string]bool, r *reader) error {
	if g.perDS() > g.dsCap() {
		return r.errf(g.node, "generate.datastore_capacity", "too small for %d disks of %d GiB per cluster", g.HostsPerCluster*g.VMsPerHost*g.DisksPerVM, g.DiskSize>>30)
	}
	for c := 1; c <= g.Clusters; c++ {
		for h := 1; h <= g.HostsPerCluster; h++ {
			for v := 1; v <= g.VMsPerHost; v++ {
				vm := &VMSpec{Name: genVM(c, h, v), Host: genHost(c, h), Home: genDS(c), HWVersion: g.HWVersion, GuestID: g.GuestID,
					Power: g.Power, Tools: true, CPUs: 2, MemoryMB: 4096, where: r.file + ":" + g.line()}
				if names["\x00"+vm.Name] {
					return r.errf(g.node, "generate", "generated VM %q clashes with vms:", vm.Name)
				}
				names["\x00"+vm.Name] = true
				for d := 0; d < g.DisksPerVM; d++ {
					vm.Disks = append(vm.Disks, DiskSpec{Size: g.DiskSize, Datastore: genDS(c)})
				}
				inv.VMs = append(inv.VMs, vm)
			}
		}
	}
	return nil
}
