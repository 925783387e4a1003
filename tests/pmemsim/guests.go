package main

import "strings"

// guestInfo is pmemsim's small guest OS table: which guests support virtual
// persistent memory (NVDIMMs). The real table lives in ESXi; these entries
// are a guess from VMware's guest OS compatibility notes (see README.md).
type guestInfo struct {
	id       string
	family   string
	fullName string
	pmem     bool
	maxPMem  int64 // MB, supportedMaxPersistentMemoryMB
}

const sixTiBMB = 6 * 1024 * 1024 // 6291456 MB, a guess for every supported guest

var guestTable = []guestInfo{
	{"windows9Server64Guest", "windowsGuest", "Microsoft Windows Server 2016 or later (64-bit)", true, sixTiBMB},
	{"windows2019srv_64Guest", "windowsGuest", "Microsoft Windows Server 2019 (64-bit)", true, sixTiBMB},
	{"windows2019srvNext_64Guest", "windowsGuest", "Microsoft Windows Server 2022 (64-bit)", true, sixTiBMB},
	{"windows2022srvNext_64Guest", "windowsGuest", "Microsoft Windows Server 2025 (64-bit)", true, sixTiBMB},
	{"rhel7_64Guest", "linuxGuest", "Red Hat Enterprise Linux 7 (64-bit)", true, sixTiBMB},
	{"rhel8_64Guest", "linuxGuest", "Red Hat Enterprise Linux 8 (64-bit)", true, sixTiBMB},
	{"rhel9_64Guest", "linuxGuest", "Red Hat Enterprise Linux 9 (64-bit)", true, sixTiBMB},
	{"sles12_64Guest", "linuxGuest", "SUSE Linux Enterprise 12 (64-bit)", true, sixTiBMB},
	{"sles15_64Guest", "linuxGuest", "SUSE Linux Enterprise 15 (64-bit)", true, sixTiBMB},
	{"sles16_64Guest", "linuxGuest", "SUSE Linux Enterprise 16 (64-bit)", true, sixTiBMB},
	{"ubuntu64Guest", "linuxGuest", "Ubuntu Linux (64-bit)", true, sixTiBMB},
	{"centos7_64Guest", "linuxGuest", "CentOS 7 (64-bit)", true, sixTiBMB},
	{"centos8_64Guest", "linuxGuest", "CentOS 8 (64-bit)", true, sixTiBMB},
	{"otherGuest", "otherGuestFamily", "Other (32-bit)", false, 0},
	{"otherGuest64", "otherGuestFamily", "Other (64-bit)", false, 0},
	{"other3xLinux64Guest", "linuxGuest", "Other 3.x Linux (64-bit)", false, 0},
	{"rhel6_64Guest", "linuxGuest", "Red Hat Enterprise Linux 6 (64-bit)", false, 0},
	{"windows7Server64Guest", "windowsGuest", "Microsoft Windows Server 2008 R2 (64-bit)", false, 0},
	{"windows8Server64Guest", "windowsGuest", "Microsoft Windows Server 2012 (64-bit)", false, 0},
	{"sles11_64Guest", "linuxGuest", "SUSE Linux Enterprise 11 (64-bit)", false, 0},
	{"ubuntuGuest", "linuxGuest", "Ubuntu Linux (32-bit)", false, 0},
	{"centos6_64Guest", "linuxGuest", "CentOS 6 (64-bit)", false, 0},
	{"debian10_64Guest", "linuxGuest", "Debian GNU/Linux 10 (64-bit)", false, 0},
}

// guestByID returns the table entry; guests outside the table are treated
// as not supporting PMem (nil).
func guestByID(id string) *guestInfo {
	for i := range guestTable {
		if guestTable[i].id == id {
			return &guestTable[i]
		}
	}
	return nil
}

func guestFamilyOf(id string) string {
	if g := guestByID(id); g != nil {
		return g.family
	}
	switch {
	case strings.HasPrefix(id, "win"):
		return "windowsGuest"
	case strings.HasPrefix(id, "darwin"):
		return "darwinGuestFamily"
	case strings.HasPrefix(id, "other"):
		return "otherGuestFamily"
	default:
		return "linuxGuest"
	}
}

func guestFullName(id string) string {
	if g := guestByID(id); g != nil {
		return g.fullName
	}
	return id
}
