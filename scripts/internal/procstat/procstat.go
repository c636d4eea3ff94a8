// Package procstat reads a process's CPU time and memory from Linux /proc,
// which is how the benchmark charges each service for the work it did
// without instrumenting the service.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports; /proc/<pid>/stat counts CPU time in these ticks.
const clockTicks = 100

// Sample is one reading of a process.
type Sample struct {
	// CPUSeconds is user + system time of the process itself.
	CPUSeconds float64
	// ChildCPUSeconds is user + system time of its exited, waited-for
	// children (PostgreSQL backends that have ended).
	ChildCPUSeconds float64
	// RSSBytes is the resident set now; HWMBytes its peak (VmHWM).
	RSSBytes, HWMBytes int64
}

// Read samples pid.
func Read(pid int) (Sample, error) {
	var s Sample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	fields, err := statFields(stat)
	if err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	// Fields after the command, numbered as in proc(5) minus 3: utime is
	// field 14, stime 15, cutime 16, cstime 17.
	ticks := func(field int) float64 {
		v, _ := strconv.ParseInt(fields[field-3], 10, 64)
		return float64(v) / clockTicks
	}
	s.CPUSeconds = ticks(14) + ticks(15)
	s.ChildCPUSeconds = ticks(16) + ticks(17)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.RSSBytes = statusKB(status, "VmRSS:")
	s.HWMBytes = statusKB(status, "VmHWM:")
	return s, nil
}

// statFields returns the fields after "pid (comm)"; comm may hold spaces
// and parentheses, so the split starts after the last ')'.
func statFields(stat []byte) ([]string, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return nil, fmt.Errorf("unexpected format")
	}
	fields := strings.Fields(string(stat[i+2:]))
	if len(fields) < 15 {
		return nil, fmt.Errorf("only %d fields", len(fields))
	}
	return fields, nil
}

func statusKB(status []byte, key string) int64 {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v << 10
		}
	}
	return 0
}

// Tree samples pid and every live process whose parent is pid (one level:
// PostgreSQL's postmaster and its backends), adding CPU and RSS, and
// including the ended children's CPU the parent has reaped. HWMBytes is the
// largest single process's peak.
func Tree(pid int) (Sample, error) {
	total, err := Read(pid)
	if err != nil {
		return total, err
	}
	total.CPUSeconds += total.ChildCPUSeconds
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return total, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields, err := statFields(stat)
		if err != nil {
			continue
		}
		// ppid is field 4.
		if ppid, _ := strconv.Atoi(fields[4-3]); ppid != pid {
			continue
		}
		s, err := Read(child)
		if err != nil {
			continue
		}
		total.CPUSeconds += s.CPUSeconds + s.ChildCPUSeconds
		total.RSSBytes += s.RSSBytes
		total.HWMBytes = max(total.HWMBytes, s.HWMBytes)
	}
	return total, nil
}
