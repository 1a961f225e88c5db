package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc/stat: USER_HZ, 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

// markCPU reads this process's rusage and the machine's /proc/stat.
func markCPU() cpuMark {
	m := cpuMark{at: time.Now()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return m
	}
	m.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	f, err := os.Open("/proc/stat")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return m
	}
	// cpu  user nice system idle iowait irq softirq steal guest guest_nice
	fields := strings.Fields(sc.Text())
	if len(fields) < 9 || fields[0] != "cpu" {
		return m
	}
	var ticks [8]int64
	for i := range ticks {
		v, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return m
		}
		ticks[i] = v
	}
	// Interrupt time is left out: it is charged to no process, and on
	// loopback most of it is this run's own packets.
	user, nice, system, steal := ticks[0], ticks[1], ticks[2], ticks[7]
	m.busy = time.Duration(user+nice+system) * clockTick
	m.steal = time.Duration(steal) * clockTick
	m.known = true
	return m
}

// procCPU is the processor time a process has used, user and system, from
// /proc/<pid>/stat; ok is false where there is no such file.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces; the fields after
	// it start with the state (field 3), so utime and stime (fields 14
	// and 15) are the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11], &utime); err != nil {
		return 0, false
	}
	if _, err := fmt.Sscan(fields[12], &stime); err != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * clockTick, true
}
