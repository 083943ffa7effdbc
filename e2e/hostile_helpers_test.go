package e2e

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// watchPeakRSS samples process pid's peak resident set (VmHWM) every 50 ms
// until stop is closed; the returned function reads the highest seen.
func watchPeakRSS(pid int, stop <-chan struct{}, wg *sync.WaitGroup) func() int64 {
	var peak atomic.Int64
	re := regexp.MustCompile(`VmHWM:\s+(\d+) kB`)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				if m := re.FindSubmatch(b); m != nil {
					v, _ := strconv.ParseInt(string(m[1]), 10, 64)
					peak.Store(max(peak.Load(), v<<10))
				}
			}
		}
	}()
	return peak.Load
}

// hostileClients runs n raw ZMTP SUB clients against addr until stop is
// closed, each doing f with its connection and connecting again whenever
// it is cut off, as a hostile program in a loop would.
func hostileClients(addr string, n int, stop <-chan struct{}, wg *sync.WaitGroup, f func(c net.Conn)) {
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := zmtpSub(addr, 4096)
				if err != nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				go func() { <-stop; c.Close() }()
				f(c)
				c.Close()
			}
		}()
	}
}

// joinGroup returns a UDP socket that hears group:port on lo (sharing the
// port with the subscriber), with reads that time out after timeout.
func joinGroup(group [4]byte, port int, timeout time.Duration) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: group}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	mreq := &unix.IPMreq{Multiaddr: group, Interface: [4]byte{127, 0, 0, 1}}
	if err := unix.SetsockoptIPMreq(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd, nil
}
