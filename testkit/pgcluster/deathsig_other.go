//go:build !linux

package pgcluster

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent death
// signal: there, a killed parent leaves the server running until stopped.
func setParentDeathSignal(*syscall.SysProcAttr) {}
