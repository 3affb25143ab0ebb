//go:build !(linux && amd64)

package main

// fixSignalStacks is implemented for linux/amd64 only (see
// sigonstack_linux_amd64.go); elsewhere the tap candidate may crash.
func fixSignalStacks() []int { return nil }
