package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var errHelp = errors.New("help")

// options are the command-line flags (see README.md).
type options struct {
	inventory     string
	inventoryData []byte // the demo estate when --inventory is absent
	listen        string
	latencyMs     int
	copyRate      float64 // bytes per second
	apiVersion    string  // full form, e.g. 7.0.3.0
	faults        []*faultRule
	certOut       string
	user          string
	password      string
	relax         map[string]bool // --relax RULE (see relaxRules)
	recentWindow  time.Duration   // --recent-task-window
	maxPage       int             // --max-page
	sessionIdle   time.Duration   // --session-idle-timeout
	toolsDelay    time.Duration   // --tools-delay: power-on to guestToolsRunning
}

// relaxRules are the vCenter rules a test may turn off with --relax RULE
// (README.md, "--relax"). pmemsim is strict by default.
var relaxRules = map[string]string{
	"pmem-locator":       "accept a PMem datastore named directly (disk locator, spec.datastore, backing fileName/datastore)",
	"reconfig-version":   "apply ConfigSpec.version in ReconfigVM_Task (powered off) instead of refusing a change",
	"pmem-disk-hot-add":  "allow adding a vPMemDisk to a powered-on VM",
	"nvdimm-granularity": "accept NVDIMM sizes that are not a multiple of VirtualNVDIMMOption.granularityInMB",
	"pmem-snapshots":     "allow snapshots of NVDIMM VMs without pmem.snapshotMode, and vPMemDisks on VMs with snapshots",
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("pmemsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &options{}
	var latency, copyRate, api string
	var faults, relax multiFlag
	fs.StringVar(&o.inventory, "inventory", "", "inventory YAML file (default: the demo estate)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8989", "listen address host:port (port 0 = any free port)")
	fs.StringVar(&latency, "latency-ms", "0", "delay every HTTP request by N milliseconds")
	fs.StringVar(&copyRate, "copy-rate", "100GiB/s", "Storage vMotion copy rate, e.g. 1GiB/s, 500MiB/s, or MiB/s as a bare number")
	fs.StringVar(&api, "api-version", "7.0.3.0", "vSphere API version to advertise (6.5, 6.7, 7.0, 7.0.3.0, 8.0, 9.0, ...)")
	fs.Var(&faults, "fault", "inject a task failure (repeatable), e.g. method=RelocateVM_Task,nth=3,vm=legacy-*")
	fs.StringVar(&o.certOut, "cert-out", "", "write the server certificate (PEM) to this file")
	fs.Var(&relax, "relax", "turn off one vCenter rule (repeatable): "+relaxNames())
	fs.DurationVar(&o.recentWindow, "recent-task-window", 10*time.Minute, "how long finished tasks stay in an entity's recentTask")
	fs.StringVar(&o.user, "user", "user", "user name accepted by Login")
	fs.StringVar(&o.password, "password", "pass", "password accepted by Login")
	fs.IntVar(&o.maxPage, "max-page", 100, "most objects per RetrievePropertiesEx page and per WaitForUpdatesEx (vCenter: 100); 0 = no limit")
	fs.DurationVar(&o.sessionIdle, "session-idle-timeout", 30*time.Minute, "API sessions idle longer expire (vCenter: 30m); 0 = never")
	fs.DurationVar(&o.toolsDelay, "tools-delay", 300*time.Millisecond, "how long after a power-on VMware Tools report running (the guest boots); 0 = at once")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprintln(os.Stderr, "usage: pmemsim [flags]")
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	n, err := strconv.Atoi(latency)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("--latency-ms %q: want a non-negative integer", latency)
	}
	o.latencyMs = n
	if o.maxPage < 0 {
		return nil, fmt.Errorf("--max-page %d: want 0 (no limit) or a positive number", o.maxPage)
	}
	if o.sessionIdle < 0 {
		return nil, fmt.Errorf("--session-idle-timeout %s: want a non-negative duration such as 30m", o.sessionIdle)
	}
	if o.copyRate, err = parseRate(copyRate); err != nil {
		return nil, fmt.Errorf("--copy-rate %q: %v", copyRate, err)
	}
	if o.apiVersion, err = normalizeAPIVersion(api); err != nil {
		return nil, fmt.Errorf("--api-version %q: %v", api, err)
	}
	for _, f := range faults {
		r, err := parseFaultRule(f)
		if err != nil {
			return nil, fmt.Errorf("--fault %q: %v", f, err)
		}
		o.faults = append(o.faults, r)
	}
	o.relax = map[string]bool{}
	for _, r := range relax {
		if _, ok := relaxRules[r]; !ok {
			return nil, fmt.Errorf("--relax %q: unknown rule (known: %s)", r, relaxNames())
		}
		o.relax[r] = true
	}
	if o.toolsDelay < 0 {
		return nil, fmt.Errorf("--tools-delay %s: must not be negative", o.toolsDelay)
	}
	if o.recentWindow < 0 {
		return nil, fmt.Errorf("--recent-task-window %s: must not be negative", o.recentWindow)
	}
	if o.inventory == "" {
		o.inventoryData = []byte(demoInventory)
		o.inventory = "demo.yaml"
	} else {
		data, err := os.ReadFile(o.inventory)
		if err != nil {
			return nil, fmt.Errorf("--inventory: %v", err)
		}
		o.inventoryData = data
	}
	return o, nil
}

func relaxNames() string {
	var names []string
	for n := range relaxRules {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

var sizeRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KiB|MiB|GiB|TiB|PiB)?\s*$`)

var sizeUnits = map[string]float64{
	"": 1 << 20, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50,
}

// parseSize parses "40GiB", "512MiB", "8TiB". A bare number is not accepted
// in the inventory (units are mandatory there) — see parseSizeStrict.
func parseSize(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil || m[2] == "" {
		return 0, fmt.Errorf("bad size %q: want a number with a unit (MiB, GiB, TiB)", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	b := int64(v * sizeUnits[m[2]])
	if b <= 0 {
		return 0, fmt.Errorf("bad size %q: must be positive", s)
	}
	return b, nil
}

// parseRate parses "1GiB/s", "500MiB/s" or a bare number of MiB/s.
func parseRate(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	m := sizeRe.FindStringSubmatch(t)
	if m == nil {
		return 0, fmt.Errorf("want e.g. 1GiB/s, 500MiB/s or a number of MiB/s")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	r := v * sizeUnits[m[2]]
	if r <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return r, nil
}

// apiVersions maps every accepted --api-version spelling to the full
// version string, the About.Version and the prior versions listed in
// /sdk/vimServiceVersions.xml (pyVmomi picks the newest version it knows
// from that document, so the list must stop at the advertised version).
var knownAPIVersions = []string{
	"5.5", "6.0", "6.5", "6.7", "6.7.1", "6.7.2", "6.7.3",
	"7.0.0.0", "7.0.1.0", "7.0.2.0", "7.0.3.0", "8.0.0.0", "8.0.1.0", "8.0.2.0", "8.0.3.0", "9.0.0.0",
}

func normalizeAPIVersion(v string) (string, error) {
	short := map[string]string{"7.0": "7.0.0.0", "7.0.1": "7.0.1.0", "7.0.2": "7.0.2.0", "7.0.3": "7.0.3.0",
		"8.0": "8.0.0.0", "8.0.1": "8.0.1.0", "8.0.2": "8.0.2.0", "8.0.3": "8.0.3.0", "9.0": "9.0.0.0"}
	if f, ok := short[v]; ok {
		v = f
	}
	for _, k := range knownAPIVersions {
		if k == v {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown version; accepted: 6.5, 6.7, 7.0, 7.0.3.0, 8.0, 8.0.3.0, 9.0 (and %s)", strings.Join(knownAPIVersions, ", "))
}

// aboutVersion returns About.Version for an API version: "7.0.3.0" -> "7.0.3", "6.5" -> "6.5.0".
func aboutVersion(api string) string {
	parts := strings.Split(api, ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return strings.Join(parts[:3], ".")
}

// priorAPIVersions lists every known version older than api, newest first.
func priorAPIVersions(api string) []string {
	var out []string
	for i := len(knownAPIVersions) - 1; i >= 0; i-- {
		if knownAPIVersions[i] == api {
			for j := i - 1; j >= 0; j-- {
				out = append(out, knownAPIVersions[j])
			}
		}
	}
	return out
}
