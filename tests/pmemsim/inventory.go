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
	Datacenter string
	Clusters   []*ClusterSpec
	Hosts      []*HostSpec // every host, cluster hosts first
	Datastores []*DatastoreSpec
	VMs        []*VMSpec
}

type ClusterSpec struct {
	Name  string
	Hosts []*HostSpec
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
	where     string
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

// loadInventory parses and validates an inventory document.
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
	top, err := r.mapping(root, "", "datacenter", "clusters", "hosts", "datastores", "vms", "generate")
	if err != nil {
		return nil, err
	}
	inv := &Inventory{Datacenter: "DC0"}
	names := map[string]string{} // entity name -> where first defined (hosts, clusters)
	hostByName := map[string]*HostSpec{}

	if kv, ok := top["datacenter"]; ok {
		if inv.Datacenter, err = r.str(kv[1], "datacenter"); err != nil {
			return nil, err
		}
	}

	readHost := func(n *yaml.Node, path, cluster string) (*HostSpec, error) {
		m, err := r.mapping(n, path, "name", "pmem")
		if err != nil {
			return nil, err
		}
		h := &HostSpec{Cluster: cluster, where: fmt.Sprintf("%s:%d", file, n.Line)}
		kv, ok := m["name"]
		if !ok {
			return nil, r.errf(n, path+".name", "missing key")
		}
		if h.Name, err = r.str(kv[1], path+".name"); err != nil {
			return nil, err
		}
		if prev, dup := names[h.Name]; dup {
			return nil, r.errf(kv[1], path+".name", "duplicate name %q (first defined at %s)", h.Name, prev)
		}
		names[h.Name] = h.where
		if kv, ok := m["pmem"]; ok {
			if h.PMem, err = r.size(kv[1], path+".pmem"); err != nil {
				return nil, err
			}
		}
		hostByName[h.Name] = h
		return h, nil
	}

	if kv, ok := top["clusters"]; ok {
		items, err := r.seq(kv[1], "clusters")
		if err != nil {
			return nil, err
		}
		for i, n := range items {
			path := fmt.Sprintf("clusters[%d]", i)
			m, err := r.mapping(n, path, "name", "hosts")
			if err != nil {
				return nil, err
			}
			c := &ClusterSpec{}
			nk, ok := m["name"]
			if !ok {
				return nil, r.errf(n, path+".name", "missing key")
			}
			if c.Name, err = r.str(nk[1], path+".name"); err != nil {
				return nil, err
			}
			if prev, dup := names[c.Name]; dup {
				return nil, r.errf(nk[1], path+".name", "duplicate name %q (first defined at %s)", c.Name, prev)
			}
			names[c.Name] = fmt.Sprintf("%s:%d", file, n.Line)
			if hk, ok := m["hosts"]; ok {
				hosts, err := r.seq(hk[1], path+".hosts")
				if err != nil {
					return nil, err
				}
				for j, hn := range hosts {
					h, err := readHost(hn, fmt.Sprintf("%s.hosts[%d]", path, j), c.Name)
					if err != nil {
						return nil, err
					}
					c.Hosts = append(c.Hosts, h)
					inv.Hosts = append(inv.Hosts, h)
				}
			}
			inv.Clusters = append(inv.Clusters, c)
		}
	}
	if kv, ok := top["hosts"]; ok {
		items, err := r.seq(kv[1], "hosts")
		if err != nil {
			return nil, err
		}
		for i, n := range items {
			h, err := readHost(n, fmt.Sprintf("hosts[%d]", i), "")
			if err != nil {
				return nil, err
			}
			inv.Hosts = append(inv.Hosts, h)
		}
	}

	var gen *genSpec
	if kv, ok := top["generate"]; ok {
		if gen, err = r.readGenerate(kv[1]); err != nil {
			return nil, err
		}
		if err := gen.addHosts(inv, names, hostByName, r); err != nil {
			return nil, err
		}
	}

	dsByName := map[string]*DatastoreSpec{}
	if kv, ok := top["datastores"]; ok {
		items, err := r.seq(kv[1], "datastores")
		if err != nil {
			return nil, err
		}
		for i, n := range items {
			path := fmt.Sprintf("datastores[%d]", i)
			m, err := r.mapping(n, path, "name", "type", "capacity", "hosts")
			if err != nil {
				return nil, err
			}
			d := &DatastoreSpec{Type: "VMFS", where: fmt.Sprintf("%s:%d", file, n.Line)}
			nk, ok := m["name"]
			if !ok {
				return nil, r.errf(n, path+".name", "missing key")
			}
			if d.Name, err = r.str(nk[1], path+".name"); err != nil {
				return nil, err
			}
			if strings.EqualFold(d.Name, "pmem") || strings.HasPrefix(d.Name, "PMemDS-") {
				return nil, r.errf(nk[1], path+".name", "%q is reserved for PMem datastores", d.Name)
			}
			if _, dup := dsByName[d.Name]; dup {
				return nil, r.errf(nk[1], path+".name", "duplicate datastore name %q", d.Name)
			}
			if tk, ok := m["type"]; ok {
				t, err := r.str(tk[1], path+".type")
				if err != nil {
					return nil, err
				}
				if d.Type = canonicalDSType(t); d.Type == "" {
					return nil, r.errf(tk[1], path+".type", "unknown datastore type %q (want VMFS, NFS, NFS41, vsan, VVOL, CIFS or VFFS; PMem datastores come from host pmem:)", t)
				}
			}
			ck, ok := m["capacity"]
			if !ok {
				return nil, r.errf(n, path+".capacity", "missing key")
			}
			if d.Capacity, err = r.size(ck[1], path+".capacity"); err != nil {
				return nil, err
			}
			if hk, ok := m["hosts"]; ok {
				hs, err := r.seq(hk[1], path+".hosts")
				if err != nil {
					return nil, err
				}
				d.Hosts = []string{}
				for j, hn := range hs {
					hp := fmt.Sprintf("%s.hosts[%d]", path, j)
					name, err := r.str(hn, hp)
					if err != nil {
						return nil, err
					}
					if hostByName[name] == nil {
						return nil, r.errf(hn, hp, "unknown host %q", name)
					}
					d.Hosts = append(d.Hosts, name)
				}
				if len(d.Hosts) == 0 {
					return nil, r.errf(hk[1], path+".hosts", "want at least one host (leave the key out to mount on every host)")
				}
			}
			dsByName[d.Name] = d
			inv.Datastores = append(inv.Datastores, d)
		}
	}
	if gen != nil {
		if err := gen.addDatastores(inv, dsByName, r); err != nil {
			return nil, err
		}
	}

	// space accounting while loading, to reject over-committed estates
	dsUsed := map[string]int64{}
	pmemUsed := map[string]int64{}
	vmNames := map[string]bool{}
	reach := func(ds *DatastoreSpec, host string) bool {
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

	if kv, ok := top["vms"]; ok {
		items, err := r.seq(kv[1], "vms")
		if err != nil {
			return nil, err
		}
		for i, n := range items {
			path := fmt.Sprintf("vms[%d]", i)
			m, err := r.mapping(n, path, "name", "host", "folder", "hardware_version", "guest_id", "power",
				"disks", "nvdimms", "snapshots", "tools", "cpus", "memory", "home")
			if err != nil {
				return nil, err
			}
			vm := &VMSpec{HWVersion: 14, GuestID: "otherGuest64", Power: "poweredOff", Tools: true, CPUs: 2, MemoryMB: 4096,
				where: fmt.Sprintf("%s:%d", file, n.Line)}
			req := func(key string) (*yaml.Node, error) {
				kv, ok := m[key]
				if !ok {
					return nil, r.errf(n, path+"."+key, "missing key")
				}
				return kv[1], nil
			}
			nn, err := req("name")
			if err != nil {
				return nil, err
			}
			if vm.Name, err = r.str(nn, path+".name"); err != nil {
				return nil, err
			}
			if vmNames[vm.Name] {
				return nil, r.errf(nn, path+".name", "duplicate VM name %q", vm.Name)
			}
			vmNames[vm.Name] = true
			hn, err := req("host")
			if err != nil {
				return nil, err
			}
			if vm.Host, err = r.str(hn, path+".host"); err != nil {
				return nil, err
			}
			host := hostByName[vm.Host]
			if host == nil {
				return nil, r.errf(hn, path+".host", "unknown host %q", vm.Host)
			}
			if kv, ok := m["folder"]; ok {
				if vm.Folder, err = r.str(kv[1], path+".folder"); err != nil {
					return nil, err
				}
			}
			if kv, ok := m["hardware_version"]; ok {
				if vm.HWVersion, err = r.integer(kv[1], path+".hardware_version", 4, 30); err != nil {
					return nil, err
				}
			}
			if kv, ok := m["guest_id"]; ok {
				if vm.GuestID, err = r.str(kv[1], path+".guest_id"); err != nil {
					return nil, err
				}
				if !knownGuestID(vm.GuestID) {
					return nil, r.errf(kv[1], path+".guest_id", "unknown guest id %q", vm.GuestID)
				}
			}
			if kv, ok := m["power"]; ok {
				if vm.Power, err = r.str(kv[1], path+".power"); err != nil {
					return nil, err
				}
				if vm.Power != "poweredOn" && vm.Power != "poweredOff" {
					return nil, r.errf(kv[1], path+".power", "unknown power state %q (want poweredOn or poweredOff)", vm.Power)
				}
			}
			if kv, ok := m["tools"]; ok {
				if vm.Tools, err = r.boolean(kv[1], path+".tools"); err != nil {
					return nil, err
				}
			}
			if kv, ok := m["cpus"]; ok {
				c, err := r.integer(kv[1], path+".cpus", 1, 768)
				if err != nil {
					return nil, err
				}
				vm.CPUs = int32(c)
			}
			if kv, ok := m["memory"]; ok {
				b, err := r.size(kv[1], path+".memory")
				if err != nil {
					return nil, err
				}
				vm.MemoryMB = int32(b >> 20)
			}
			if kv, ok := m["snapshots"]; ok {
				if vm.Snapshots, err = r.integer(kv[1], path+".snapshots", 0, 32); err != nil {
					return nil, err
				}
			}
			if kv, ok := m["disks"]; ok {
				disks, err := r.seq(kv[1], path+".disks")
				if err != nil {
					return nil, err
				}
				for j, dn := range disks {
					dp := fmt.Sprintf("%s.disks[%d]", path, j)
					dm, err := r.mapping(dn, dp, "size", "datastore")
					if err != nil {
						return nil, err
					}
					var d DiskSpec
					sk, ok := dm["size"]
					if !ok {
						return nil, r.errf(dn, dp+".size", "missing key")
					}
					if d.Size, err = r.size(sk[1], dp+".size"); err != nil {
						return nil, err
					}
					dk, ok := dm["datastore"]
					if !ok {
						return nil, r.errf(dn, dp+".datastore", "missing key")
					}
					if d.Datastore, err = r.str(dk[1], dp+".datastore"); err != nil {
						return nil, err
					}
					if d.Datastore == "pmem" {
						if host.PMem == 0 {
							return nil, r.errf(dk[1], dp+".datastore", "host %s has no PMem", host.Name)
						}
						pmemUsed[host.Name] += roundMiB(d.Size)
						if pmemUsed[host.Name] > host.PMem {
							return nil, r.errf(sk[1], dp+".size", "host %s PMem over-committed (%d MiB used of %d MiB)", host.Name, pmemUsed[host.Name]>>20, host.PMem>>20)
						}
					} else {
						ds := dsByName[d.Datastore]
						if ds == nil {
							return nil, r.errf(dk[1], dp+".datastore", "unknown datastore %q", d.Datastore)
						}
						if !reach(ds, host.Name) {
							return nil, r.errf(dk[1], dp+".datastore", "datastore %s is not mounted on host %s", ds.Name, host.Name)
						}
						dsUsed[ds.Name] += d.Size
						if dsUsed[ds.Name] > ds.Capacity {
							return nil, r.errf(sk[1], dp+".size", "datastore %s over-committed", ds.Name)
						}
					}
					vm.Disks = append(vm.Disks, d)
				}
			}
			// The VM home: "home:" if given, else the first disk's datastore
			// unless that is PMem, else the first non-PMem datastore (by
			// name) the host mounts.
			if kv, ok := m["home"]; ok {
				if vm.Home, err = r.str(kv[1], path+".home"); err != nil {
					return nil, err
				}
				if vm.Home == "pmem" || strings.HasPrefix(vm.Home, "PMemDS-") {
					return nil, r.errf(kv[1], path+".home", "the VM home cannot be on PMem")
				}
				ds := dsByName[vm.Home]
				if ds == nil {
					return nil, r.errf(kv[1], path+".home", "unknown datastore %q", vm.Home)
				}
				if !reach(ds, host.Name) {
					return nil, r.errf(kv[1], path+".home", "datastore %s is not mounted on host %s", ds.Name, host.Name)
				}
			} else if len(vm.Disks) > 0 && vm.Disks[0].Datastore != "pmem" {
				vm.Home = vm.Disks[0].Datastore
			} else {
				for _, ds := range sortedDatastores(inv.Datastores) {
					if reach(ds, host.Name) {
						vm.Home = ds.Name
						break
					}
				}
				if vm.Home == "" {
					return nil, r.errf(n, path, "host %s mounts no non-PMem datastore for the VM home (add a datastore mounted on it)", host.Name)
				}
			}
			if kv, ok := m["nvdimms"]; ok {
				nvs, err := r.seq(kv[1], path+".nvdimms")
				if err != nil {
					return nil, err
				}
				for j, nv := range nvs {
					np := fmt.Sprintf("%s.nvdimms[%d]", path, j)
					b, err := r.size(nv, np)
					if err != nil {
						return nil, err
					}
					if host.PMem == 0 {
						return nil, r.errf(nv, np, "host %s has no PMem", host.Name)
					}
					if vm.HWVersion < 14 {
						return nil, r.errf(nv, np, "NVDIMMs need hardware_version 14 or later")
					}
					if g := guestByID(vm.GuestID); g == nil || !g.pmem {
						return nil, r.errf(nv, np, "guest %s does not support persistent memory", vm.GuestID)
					}
					pmemUsed[host.Name] += roundMiB(b)
					if pmemUsed[host.Name] > host.PMem {
						return nil, r.errf(nv, np, "host %s PMem over-committed (%d MiB used of %d MiB)", host.Name, pmemUsed[host.Name]>>20, host.PMem>>20)
					}
					vm.NVDIMMs = append(vm.NVDIMMs, roundMiB(b))
				}
				if len(vm.NVDIMMs) > 64 {
					return nil, r.errf(kv[1], path+".nvdimms", "at most 64 NVDIMMs per VM")
				}
				if len(vm.NVDIMMs) > 0 && vm.Snapshots > 0 {
					return nil, r.errf(kv[1], path+".nvdimms", "a VM with NVDIMMs cannot have snapshots")
				}
			}
			inv.VMs = append(inv.VMs, vm)
		}
	}
	if gen != nil {
		if err := gen.addVMs(inv, vmNames, dsUsed, r); err != nil {
			return nil, err
		}
	}
	return inv, nil
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

func (g *genSpec) addHosts(inv *Inventory, names map[string]string, byName map[string]*HostSpec, r *reader) error {
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

func (g *genSpec) addDatastores(inv *Inventory, byName map[string]*DatastoreSpec, r *reader) error {
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

func (g *genSpec) addVMs(inv *Inventory, names map[string]bool, used map[string]int64, r *reader) error {
	if g.perDS() > g.dsCap() {
		return r.errf(g.node, "generate.datastore_capacity", "too small for %d disks of %d GiB per cluster", g.HostsPerCluster*g.VMsPerHost*g.DisksPerVM, g.DiskSize>>30)
	}
	for c := 1; c <= g.Clusters; c++ {
		for h := 1; h <= g.HostsPerCluster; h++ {
			for v := 1; v <= g.VMsPerHost; v++ {
				vm := &VMSpec{Name: genVM(c, h, v), Host: genHost(c, h), Home: genDS(c), HWVersion: g.HWVersion, GuestID: g.GuestID,
					Power: g.Power, Tools: true, CPUs: 2, MemoryMB: 4096, where: r.file + ":" + g.line()}
				if names[vm.Name] {
					return r.errf(g.node, "generate", "generated VM %q clashes with vms:", vm.Name)
				}
				names[vm.Name] = true
				for d := 0; d < g.DisksPerVM; d++ {
					vm.Disks = append(vm.Disks, DiskSpec{Size: g.DiskSize, Datastore: genDS(c)})
				}
				inv.VMs = append(inv.VMs, vm)
			}
		}
	}
	return nil
}
