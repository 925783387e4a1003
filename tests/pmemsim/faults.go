package main

import (
	"fmt"
	"path"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/vim25/types"
)

// faultRule is one --fault SPEC. Grammar (see README.md):
//
//	SPEC      = PAIR { "," PAIR } | METHOD [ ":" NTH ]
//	PAIR      = "method=" METHOD | "vm=" GLOB | "nth=" N | "fault=" TYPE
//	          | "message=" TEXT | "at=" PERCENT
//
// method defaults to every *_Task method pmemsim runs, vm to every VM (or
// none), nth to every matching call, fault to SystemError, at to "fail as
// soon as the task starts running". message may not contain a comma.
type faultRule struct {
	spec      string
	method    string // "" = any task
	vm        string // glob; "" = any
	nth       int    // 0 = every matching call
	faultType string
	message   string
	at        int // -1 = at once

	mu    sync.Mutex
	count int
}

// injected is a rule that matched a submitted task.
type injected struct {
	rule *faultRule
	at   int
}

type faultSet struct{ rules []*faultRule }

var faultAliases = map[string]string{"GuestOsNotSupported": "UnsupportedGuest"}

func parseFaultRule(spec string) (*faultRule, error) {
	r := &faultRule{spec: spec, faultType: "SystemError", at: -1}
	if !strings.Contains(spec, "=") {
		// shorthand: METHOD or METHOD:N
		m, n := spec, ""
		if i := strings.LastIndex(spec, ":"); i >= 0 {
			m, n = spec[:i], spec[i+1:]
		}
		if !isMethodName(m) {
			return nil, fmt.Errorf("want key=value pairs or METHOD[:NTH], e.g. RelocateVM_Task:3")
		}
		r.method = m
		if n != "" {
			v, err := strconv.Atoi(n)
			if err != nil || v < 1 {
				return nil, fmt.Errorf("nth %q: want a positive integer", n)
			}
			r.nth = v
		}
		return r, nil
	}
	for _, pair := range strings.Split(spec, ",") {
		kv := strings.SplitN(pair, "=", 2)
		if len(kv) != 2 {
			return nil, fmt.Errorf("%q: want key=value", pair)
		}
		k, v := strings.TrimSpace(kv[0]), strings.TrimSpace(kv[1])
		switch k {
		case "method":
			if !isMethodName(v) {
				return nil, fmt.Errorf("method %q: want a SOAP method name such as RelocateVM_Task", v)
			}
			r.method = v
		case "vm":
			if _, err := path.Match(v, ""); err != nil || v == "" {
				return nil, fmt.Errorf("vm %q: bad glob", v)
			}
			r.vm = v
		case "nth":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("nth %q: want a positive integer", v)
			}
			r.nth = n
		case "fault":
			if a, ok := faultAliases[v]; ok {
				v = a
			}
			if _, err := makeFault(v, ""); err != nil {
				return nil, err
			}
			r.faultType = v
		case "message":
			r.message = v
		case "at":
			n, err := strconv.Atoi(strings.TrimSuffix(v, "%"))
			if err != nil || n < 0 || n > 100 {
				return nil, fmt.Errorf("at %q: want a percentage 0-100", v)
			}
			r.at = n
		default:
			return nil, fmt.Errorf("unknown key %q (want method, vm, nth, fault, message, at)", k)
		}
	}
	return r, nil
}

func isMethodName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// match is called once per submitted task; it counts matching calls for nth.
func (s *faultSet) match(method, vm string) *injected {
	if s == nil {
		return nil
	}
	for _, r := range s.rules {
		if r.method != "" && r.method != method {
			continue
		}
		if r.method == "" && !strings.HasSuffix(method, "_Task") {
			continue
		}
		if r.vm != "" {
			if ok, _ := path.Match(r.vm, vm); !ok || vm == "" {
				continue
			}
		}
		r.mu.Lock()
		r.count++
		n := r.count
		r.mu.Unlock()
		if r.nth == 0 || r.nth == n {
			return &injected{rule: r, at: r.at}
		}
	}
	return nil
}

func (in *injected) fault(j *job) *taskFault {
	r := in.rule
	msg := r.message
	if msg == "" {
		msg = fmt.Sprintf("pmemsim injected fault %s (--fault %s)", r.faultType, r.spec)
	}
	f, _ := makeFault(r.faultType, msg)
	switch x := f.(type) {
	case *types.TaskInProgress:
		x.Task = j.task.Self
	case *types.InvalidPowerState:
		if j.vm != nil {
			x.ExistingState = j.vm.Runtime.PowerState
		}
	case *types.FileFault:
		x.File = "[unknown] pmemsim"
	}
	return newFault(f, "%s", msg)
}

// makeFault instantiates any vim fault type by name (SystemError,
// InsufficientResourcesFault, InvalidPowerState, InvalidState,
// TaskInProgress, InvalidDeviceSpec, InsufficientStorageSpace, FileFault, ...).
func makeFault(name, msg string) (types.BaseMethodFault, error) {
	t, ok := types.TypeFunc()(name)
	if !ok {
		return nil, fmt.Errorf("unknown fault type %q", name)
	}
	f, ok := reflect.New(t).Interface().(types.BaseMethodFault)
	if !ok {
		return nil, fmt.Errorf("%q is not a fault type", name)
	}
	switch x := f.(type) {
	case *types.SystemError:
		x.Reason = msg
	case *types.FileFault:
		x.File = "[unknown] pmemsim"
	case *types.InvalidPowerState:
		x.ExistingState = types.VirtualMachinePowerStatePoweredOn
	}
	return f, nil
}
