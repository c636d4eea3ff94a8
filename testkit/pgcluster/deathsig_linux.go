package pgcluster

import "syscall"

// setParentDeathSignal makes the kernel send the server SIGINT (PostgreSQL's
// fast shutdown) when the process that started it dies. See startLocked for
// the thread caveat.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGINT
}
