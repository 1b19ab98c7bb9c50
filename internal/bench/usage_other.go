//go:build !linux

package bench

import "time"

// writeBytes is not measured outside Linux.
func writeBytes() int64 { return -1 }

// cpuTime is not measured outside Linux.
func cpuTime() time.Duration { return -1 }
